# tests/fuzz/fuzz.mk — libFuzzer targets for the data-format parsers of common/:
#   make fuzz-formats          build both and run each for FMT_FUZZ_TIME seconds
#   make build/fuzz/tsv_fuzz build/fuzz/stream_fuzz
# Needs clang with libFuzzer (Debian: clang).  Objects in build/fuzz/fmt-obj.
FMT_FUZZ_CC    ?= clang
FMT_FUZZ_TIME  ?= 60
FMT_FUZZ_FLAGS  = -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined
FMT_FUZZ_COMMON = $(patsubst %,build/fuzz/fmt-obj/common/%.o,tsv xalloc diag emb emb_stream emb_cache fsutil)

build/fuzz/fmt-obj/%.o: %.c
	@mkdir -p $(@D)
	$(FMT_FUZZ_CC) $(CPPFLAGS) $(HDF5_CFLAGS) -std=c11 -pthread $(FMT_FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

build/fuzz/tsv_fuzz: build/fuzz/fmt-obj/tests/fuzz/tsv_fuzz.o $(FMT_FUZZ_COMMON)
	$(FMT_FUZZ_CC) $(FMT_FUZZ_FLAGS) -fsanitize=fuzzer -pthread $^ $(HDF5_LIBS) -lm -o $@

build/fuzz/stream_fuzz: build/fuzz/fmt-obj/tests/fuzz/stream_fuzz.o $(FMT_FUZZ_COMMON)
	$(FMT_FUZZ_CC) $(FMT_FUZZ_FLAGS) -fsanitize=fuzzer -pthread $^ $(HDF5_LIBS) -lm -o $@

# Seeds: TSV with every escape, BOM and CRLF; streams written by clipsort-cache import.
fuzz-formats: build/fuzz/tsv_fuzz build/fuzz/stream_fuzz $(B)/clipsort-cache
	@mkdir -p build/fuzz/corpus-tsv build/fuzz/corpus-stream
	@printf 'key\tpath\tscore\nk1\ta\\tb\\nc\\\\d\\r\t0.5\n' >build/fuzz/corpus-tsv/s1
	@printf '\357\273\277a\tb\r\n1\t2\r\n3\t4' >build/fuzz/corpus-tsv/s2
	@printf 'key\tpath\tvec\n%s\tdir/a.jpg\t1,2,3\n%s\tz.zip!b.png\t0,0,1\n' \
		ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb \
		3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d >build/fuzz/corpus-tsv/s3
	@printf 'class\tprompt\tvec\nbox\ta box\t1,0,0\n' >build/fuzz/texts.tsv
	$(B)/clipsort-cache import -m M -f fp -p pre -b -1 -t build/fuzz/texts.tsv \
		build/fuzz/corpus-tsv/s3 >build/fuzz/corpus-stream/s1
	$(B)/clipsort-cache import -m M build/fuzz/corpus-tsv/s3 >build/fuzz/corpus-stream/s2
	build/fuzz/tsv_fuzz -max_total_time=$(FMT_FUZZ_TIME) -max_len=4096 -timeout=20 \
		-rss_limit_mb=2048 build/fuzz/corpus-tsv
	build/fuzz/stream_fuzz -max_total_time=$(FMT_FUZZ_TIME) -max_len=4096 -timeout=20 \
		-rss_limit_mb=2048 build/fuzz/corpus-stream

fuzz: fuzz-formats
.PHONY: fuzz-formats
