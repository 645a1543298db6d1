# embed_file.cmake — writes a C source holding a file's bytes, so the binary
# carries its own copy (the shipped price list).  Run as
#   cmake -DINPUT=data/pricing.yaml -DOUTPUT=pricing_builtin.c -DSYMBOL=cmx_pricing_builtin -P embed_file.cmake
# It defines `const char SYMBOL[]` (NUL-terminated) and `const size_t SYMBOL_len`.
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_len)
math(EXPR size "${hex_len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
# Sixteen bytes a line keeps the generated file readable.
string(REPEAT "0x[0-9a-f][0-9a-f]," 16 line_of_16)
string(REGEX REPLACE "(${line_of_16})" "\\1\n    " bytes "${bytes}")
file(WRITE "${OUTPUT}.tmp"
  "/* Generated at build time from ${INPUT} by cmake/embed_file.cmake; do not edit. */\n"
  "#include <stddef.h>\n\n"
  "const char ${SYMBOL}[] = {\n    ${bytes}0x00};\n"
  "const size_t ${SYMBOL}_len = ${size};\n")
# Replaced only when the content changed, so an unchanged list rebuilds nothing.
configure_file("${OUTPUT}.tmp" "${OUTPUT}" COPYONLY)
file(REMOVE "${OUTPUT}.tmp")
