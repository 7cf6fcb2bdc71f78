#!/usr/bin/env bash
# Compiler wrapper used only to build mmcv 2.1.0 from its sdist.
# mmcv 2.1.0's setup.py hard-codes `-std=c++17` (or c++14), but the headers of
# torch >= 2.10 refuse anything older than C++20 (open-mmlab/mmcv#3341).
# This wrapper rewrites the flag and calls the real C++ compiler.
real="${LTCLS_REAL_CXX:-g++}"
args=()
for a in "$@"; do
  case "$a" in
    -std=c++14|-std=c++17|-std=gnu++14|-std=gnu++17) args+=("-std=c++20") ;;
    *) args+=("$a") ;;
  esac
done
exec "$real" "${args[@]}"
