# tests/fuzz/bpe.mk — libFuzzer target for the CLIP tokenizer (not in PROGS).
#   make fuzz-bpe            build and run it for BPE_FUZZ_TIME seconds
#   make build/fuzz/bpe_fuzz
# Needs clang with libFuzzer (Debian: clang).  Objects in build/fuzz/bpe-obj.
BPE_FUZZ_CC    ?= clang
BPE_FUZZ_TIME  ?= 60
BPE_FUZZ_FLAGS  = -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined
BPE_FUZZ_OBJS   = $(patsubst %,build/fuzz/bpe-obj/%.o,embed/bpe embed/bpe_text embed/bpe_tables \
                  embed/bpe_train tests/fuzz/bpe_fuzz)

build/fuzz/bpe-obj/%.o: %.c
	@mkdir -p $(@D)
	$(BPE_FUZZ_CC) $(CPPFLAGS) -Iembed -std=c11 -pthread $(BPE_FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

build/fuzz/bpe_fuzz: $(BPE_FUZZ_OBJS)
	$(BPE_FUZZ_CC) $(BPE_FUZZ_FLAGS) -fsanitize=fuzzer -pthread $^ $(BPE_LIBS) -o $@

# Seeds: prompts for each mode byte, plus a valid gzip vocabulary header.
fuzz-bpe: build/fuzz/bpe_fuzz
	@mkdir -p build/fuzz/corpus-bpe
	@printf '\000a product in packaging' >build/fuzz/corpus-bpe/p0
	@printf "\001It's caf\303\251 &amp; cr&egrave;me \360\237\223\246 \316\237\316\243 <start_of_text>" >build/fuzz/corpus-bpe/p1
	@printf '\002{"a": 1, "<|startoftext|>": 2}' >build/fuzz/corpus-bpe/v
	@printf '\003#version: 0.2\na n\n' >build/fuzz/corpus-bpe/m
	@printf '\004' >build/fuzz/corpus-bpe/g && printf 'hdr\nh e\nl l\n' | gzip -c >>build/fuzz/corpus-bpe/g
	FIXTURE=$${FIXTURE:-../shared/fixtures/openclip} build/fuzz/bpe_fuzz -max_total_time=$(BPE_FUZZ_TIME) \
		-max_len=4096 -timeout=20 -rss_limit_mb=2048 build/fuzz/corpus-bpe

fuzz: fuzz-bpe
.PHONY: fuzz-bpe
