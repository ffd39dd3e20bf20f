/// How many terminal columns `text` takes: two for each wide character (East Asian Wide and
/// Fullwidth: CJK ideographs, kana, Hangul syllables, fullwidth forms, most emoji), one for every
/// other character (a letter and its combining marks are one character). So tables of class
/// names line up in a terminal: padded by characters, a column of Chinese names pushed every
/// later column out by one per ideograph.
public func terminalColumns(_ text: String) -> Int {
    text.reduce(0) { $0 + (isWide($1) ? 2 : 1) }
}

/// Whether a character's first scalar lies in one of the Unicode blocks East Asian Width calls
/// Wide or Fullwidth (the main ones, not every last code point).
private func isWide(_ c: Character) -> Bool {
    guard let v = c.unicodeScalars.first?.value else { return false }
    switch v {
    case 0x1100...0x115F,    // Hangul Jamo initials
         0x2E80...0x303E,    // CJK radicals, Kangxi, CJK symbols and punctuation
         0x3041...0x33FF,    // kana, Bopomofo, Hangul compatibility Jamo, CJK compatibility
         0x3400...0x4DBF,    // CJK extension A
         0x4E00...0x9FFF,    // CJK unified ideographs
         0xA000...0xA4CF,    // Yi
         0xAC00...0xD7A3,    // Hangul syllables
         0xF900...0xFAFF,    // CJK compatibility ideographs
         0xFE30...0xFE4F,    // CJK compatibility forms
         0xFF00...0xFF60,    // fullwidth forms
         0xFFE0...0xFFE6,
         0x1F300...0x1F64F,  // pictographs, emoticons
         0x1F900...0x1F9FF,  // supplemental symbols and pictographs
         0x20000...0x3FFFD:  // CJK extensions B and after
        return true
    default:
        return false
    }
}
