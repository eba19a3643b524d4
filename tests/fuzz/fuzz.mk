# tests/fuzz/fuzz.mk: the libFuzzer harnesses, built with clang apart from autotools
# Used by scripts/fuzz as: make -C build-fuzz -f $top/tests/fuzz/fuzz.mk top=$top
# Every source of common/ and the responder's of fcgi/ are compiled once with
# coverage instrumentation and both sanitizers; each harness links what it needs.
top ?= ../..
CC = clang-14
# UBSan stays recoverable so that tests/fuzz/ubsan-pending.supp can name the known
# reports still being fixed; scripts/fuzz makes every other one fatal
# (UBSAN_OPTIONS=halt_on_error=1), which -fno-sanitize-recover would make
# of the suppressed ones too.
SAN = -fsanitize=address,undefined -fno-omit-frame-pointer
CFLAGS = -std=gnu11 -g -O1 -Wall -Wextra -Werror -Wno-unused-parameter \
	-fsanitize=fuzzer-no-link $(SAN) \
	-D_GNU_SOURCE -I$(top)/common -I$(top)/fcgi $(shell pkg-config --cflags json-c libconfig libsodium) \
	-DPACKAGE_NAME='"openai-fcgi"' -DPACKAGE_VERSION='"0-fuzz"' -pthread -MMD -MP \
	$(CX16)
# ratelimit.c's 16-byte compare-and-swap: gcc honours its target("cx16")
# attribute, clang wants the whole file built for it.
CX16 = $(if $(filter x86_64,$(shell uname -m)),-mcx16)
LDFLAGS = -fsanitize=fuzzer $(SAN) -pthread
LIBS = $(shell pkg-config --libs json-c libconfig libsodium) -lhttp_parser -ldl -lm

# curl_api_linked.c is the static build's stand-in for curl_api.c
COMMON_SRC = $(filter-out %/curl_api_linked.c %/redis_store.c,$(wildcard $(top)/common/*.c))
# everything of fcgi/ but what carries requests and starts processes
RESPONDER_SRC = $(filter-out %/main.c %/io_fcgx.c %/io_cgi.c %/procman.c,$(wildcard $(top)/fcgi/*.c))
COMMON_OBJ = $(patsubst $(top)/common/%.c,obj/common/%.o,$(COMMON_SRC))
RESPONDER_OBJ = $(patsubst $(top)/fcgi/%.c,obj/fcgi/%.o,$(RESPONDER_SRC))
HARNESSES = $(patsubst $(top)/tests/fuzz/fuzz_%.c,fuzz_%,$(wildcard $(top)/tests/fuzz/fuzz_*.c))

all: $(HARNESSES)

obj/common/%.o: $(top)/common/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@
obj/fcgi/%.o: $(top)/fcgi/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@
obj/fuzz/%.o: $(top)/tests/fuzz/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

# The router's harness needs the responder; the others only common/.
fuzz_routes: obj/fuzz/fuzz_routes.o $(RESPONDER_OBJ) $(COMMON_OBJ)
	$(CC) $(LDFLAGS) $^ $(LIBS) -o $@
fuzz_%: obj/fuzz/fuzz_%.o $(COMMON_OBJ)
	$(CC) $(LDFLAGS) $^ $(LIBS) -o $@

-include $(wildcard obj/*/*.d)
.PHONY: all
