#!/bin/sh
# static-archive.sh IN.a OUT.a — merges the members of IN.a into one relocatable object whose
# hidden symbols (everything but the ONYX_API functions) are made local, and archives it as
# OUT.a. Programs linking OUT.a then see only onyx_* names. Needs GNU ld, objcopy and ar.
set -eu
in=$1
out=$2
merged="$out.merged.o"
ld -r --whole-archive "$in" -o "$merged"
objcopy --localize-hidden "$merged"
rm -f "$out"
ar rcs "$out" "$merged"
rm -f "$merged"
