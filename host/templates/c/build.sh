#!/bin/sh
# Builds the bot: clang-19 and wasi-libc make a WASI preview 1 core module, which
# `wasmbot componentize` turns into the bot component build/bot.wasm.
set -eu
mkdir -p build
clang-19 --target=wasm32-wasi -mexec-model=reactor -Os -Wall -Wextra -Wl,--strip-debug \
  -o build/core.wasm src/app.c sdk/c/gen/bot.c sdk/c/gen/bot_component_type.o
"${WASMBOT:-wasmbot}" componentize build/core.wasm -o build/bot.wasm >/dev/null
