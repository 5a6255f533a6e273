# embed_text.cmake -- turn one text file into a C string (schemas/openapi.json
# into sentinel_openapi_json, served at GET /openapi.json).
# cmake -DINPUT=... -DOUTPUT=... -DNAME=... -P embed_text.cmake
file(READ "${INPUT}" text)
string(REPLACE "\\" "\\\\" text "${text}")
string(REPLACE "\"" "\\\"" text "${text}")
string(REPLACE "\n" "\\n\"\n    \"" text "${text}")
set(out "/* Generated from ${INPUT} by schemas/embed_text.cmake: do not edit. */\n")
string(APPEND out "const char ${NAME}[] =\n    \"${text}\";\n")
file(WRITE "${OUTPUT}.tmp" "${out}")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
