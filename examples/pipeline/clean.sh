#!/bin/sh
# clean.sh RAW_DIR OUT: every station,value line of RAW_DIR/*.csv, no comments or blanks, sorted.
set -eu
mkdir -p "$(dirname "$2")"
cat "$1"/*.csv | grep -v '^#' | grep -v '^[[:space:]]*$' | sort > "$2"
