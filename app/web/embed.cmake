# Turns a file into a header holding it as a string constant:
#   cmake -DIN=file -DOUT=header -DNAME=identifier -P embed.cmake
file(READ "${IN}" content)
set(delim "starling_embed")
file(WRITE "${OUT}.tmp" "// Generated from ${IN}; do not edit.\n#pragma once\n#include <string_view>\nnamespace starling::app {\ninline constexpr std::string_view ${NAME} = R\"${delim}(${content})${delim}\";\n}\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
