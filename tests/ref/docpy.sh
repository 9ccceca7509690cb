#!/bin/sh
# docpy.sh DOC N - print the Nth fenced block (1-based) of DOC whose fence
# names a language (```python, ```sh, or a bare ``` for expected output), so
# the tests run the documentation's own examples.
awk -v want="$2" '
/^```/ { if (inblock) { inblock = 0; next } inblock = 1; n++; next }
inblock && n == want { print }
' "$1"
