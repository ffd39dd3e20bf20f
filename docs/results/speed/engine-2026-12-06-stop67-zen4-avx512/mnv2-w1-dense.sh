#!/bin/sh
# ignores its arguments: MobileNetV2 w1.0 dense, random weights, for interleave.py
exec .build/release/isp bench --model mobilenetv2 --width 1 --no-train --passes-on-request
