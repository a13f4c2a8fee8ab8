#!/bin/sh
# Builds the bot: one Go module of the bindings (sdk/go/bindings), the layer (sdk/go/wasmbot)
# and the bot (src/, package export_wasmbot_bot_handler), built for wasip1 as a core module,
# which `wasmbot componentize` turns into the bot component build/bot.wasm.
#
# Go 1.25 or newer, and the Go runtime package of wit-bindgen (go.bytecodealliance.org/pkg):
# `scripts/build-bots --install go` of a wasmbot checkout puts both under
# ${WASMBOT_TOOLCHAINS:-~/.cache/wasmbot/toolchains}; GO and WASMBOT_GO_PKG point elsewhere.
set -eu
tools="${WASMBOT_TOOLCHAINS:-$HOME/.cache/wasmbot/toolchains}"
go="${GO:-$tools/python/bin/go}"
[ -x "$go" ] || go="$(command -v go)"
pkg="${WASMBOT_GO_PKG:-$tools/go-pkg}"
module="$PWD/build/module"
rm -rf "$module" && mkdir -p "$module/export_wasmbot_bot_handler"
cp -r sdk/go/bindings/. sdk/go/wasmbot "$module/"
cp src/*.go "$module/export_wasmbot_bot_handler/"
echo "replace go.bytecodealliance.org/pkg => $pkg" >> "$module/go.mod"
cd "$module"
export GOPROXY=off GOFLAGS=-mod=mod GOTOOLCHAIN=local
"$go" mod tidy
GOARCH=wasm GOOS=wasip1 "$go" build -o ../core.wasm -buildmode=c-shared -ldflags='-s -w -checklinkname=0'
cd ../..
"${WASMBOT:-wasmbot}" componentize build/core.wasm -o build/bot.wasm >/dev/null
