# tests/fuzz/image.mk — libFuzzer target for image decoding + preprocessing.
#   make fuzz                 build and run every fuzz target (FUZZ_TIME s each)
#   make build/fuzz/image_fuzz
# Needs clang with libFuzzer (Debian: clang); objects in build/fuzz.
FUZZ_CC    ?= clang
FUZZ_TIME  ?= 60
FUZZ_FLAGS  = -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_DIR    = build/fuzz

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) -std=c11 -pthread $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/image_fuzz: $(FUZZ_DIR)/obj/tests/fuzz/image_fuzz.o $(FUZZ_DIR)/obj/embed/preproc.o \
                        $(FUZZ_DIR)/obj/embed/resample.o
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -pthread $^ $(VIPS_LIBS) -lm -o $@

# Seeds: small images of every accepted type and PIL mode (Pillow writes
# them when it is installed) and the fixture's images.
FUZZ_SEEDS = from PIL import Image; import sys; d = sys.argv[1]; \
  g = Image.linear_gradient("L").resize((40, 30)); c = Image.merge("RGB", (g, g.rotate(90), g)); \
  c.save(d + "/s.jpg"); c.convert("CMYK").save(d + "/cmyk.jpg"); g.save(d + "/l.jpg"); \
  c.putalpha(g); c.save(d + "/rgba.png"); c.save(d + "/a.webp"); c.convert("RGB").save(d + "/s.tif"); \
  c.convert("P").save(d + "/p.png", transparency=2); c.convert("P").save(d + "/p.gif", transparency=3); \
  g.convert("LA").save(d + "/la.png"); g.convert("I").save(d + "/i16.png"); g.convert("1").save(d + "/b.png"); \
  c.convert("P").save(d + "/p.tif"); g.convert("1").save(d + "/b.tif"); c.convert("CMYK").save(d + "/cmyk.tif")

fuzz-image: $(FUZZ_DIR)/image_fuzz
	@mkdir -p $(FUZZ_DIR)/corpus-image
	-/usr/bin/python3 -c '$(FUZZ_SEEDS)' $(FUZZ_DIR)/corpus-image
	-cp -n ../shared/fixtures/openclip/images/* $(FUZZ_DIR)/corpus-image/ 2>/dev/null
	$(FUZZ_DIR)/image_fuzz -max_total_time=$(FUZZ_TIME) -max_len=65536 -timeout=20 \
		-rss_limit_mb=2048 $(FUZZ_DIR)/corpus-image

fuzz: fuzz-image
.PHONY: fuzz-image
