# tests/fuzz/engine.mk — libFuzzer target for the engine's safetensors and
# open_clip_config.json parsers (not in PROGS).
#   make fuzz-engine          build and run it for ENGINE_FUZZ_TIME seconds
# Needs clang with libFuzzer (Debian: clang).  Objects in build/fuzz/engine-obj.
ENGINE_FUZZ_CC    ?= clang
ENGINE_FUZZ_TIME  ?= 60
ENGINE_FUZZ_FLAGS  = -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined
ENGINE_FUZZ_OBJS   = $(patsubst %,build/fuzz/engine-obj/%.o,embed/safetensors embed/clipcfg tests/fuzz/engine_fuzz)

build/fuzz/engine-obj/%.o: %.c
	@mkdir -p $(@D)
	$(ENGINE_FUZZ_CC) $(CPPFLAGS) -Iembed -std=c11 -pthread $(ENGINE_FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

build/fuzz/engine_fuzz: $(ENGINE_FUZZ_OBJS)
	$(ENGINE_FUZZ_CC) $(ENGINE_FUZZ_FLAGS) -fsanitize=fuzzer -pthread $^ $(JANSSON_LIBS) $(CRYPTO_LIBS) -o $@

# Seeds: the fixture's config, and a small valid safetensors file.
fuzz-engine: build/fuzz/engine_fuzz
	@mkdir -p build/fuzz/corpus-engine
	@{ printf '\001'; cat $${FIXTURE:-../shared/fixtures/openclip}/model/tiny-vit-b32ish/open_clip_config.json; } \
		>build/fuzz/corpus-engine/cfg 2>/dev/null || printf '\001{"model_cfg": {}}' >build/fuzz/corpus-engine/cfg
	@printf '\000\070\000\000\000\000\000\000\000{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}  12345678' \
		>build/fuzz/corpus-engine/st
	build/fuzz/engine_fuzz -max_total_time=$(ENGINE_FUZZ_TIME) -max_len=65536 -timeout=20 \
		-rss_limit_mb=2048 build/fuzz/corpus-engine

fuzz: fuzz-engine
.PHONY: fuzz-engine
