/* engine_fuzz — libFuzzer target for the engine's plain-C parsers: the first byte
 * picks safetensors (st_open_mem + every tensor + fingerprint) or
 * open_clip_config.json (clipcfg_parse); the rest is the input. */
#include <stddef.h>
#include <stdint.h>

#include "clipcfg.h"
#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512], fp[65];
	if (size < 1)
		return 0;
	if (data[0] & 1) {
		clipcfg c;
		clipcfg_parse((const char *)data + 1, size - 1, "fuzz.json", &c, err, sizeof err);
		return 0;
	}
	st_file *f = NULL;
	if (st_open_mem(data + 1, size - 1, "fuzz.safetensors", &f, err, sizeof err) == 0) {
		volatile unsigned sum = 0;
		for (size_t i = 0; i < st_count(f); i++) {
			const st_tensor *t = st_at(f, i);
			const unsigned char *p = t->data;
			for (uint64_t k = t->begin; k < t->end; k++) /* every byte must be readable */
				sum += p[k - t->begin];
			if (st_find(f, t->name) != t)
				__builtin_trap();
		}
		st_fingerprint(f, fp, err, sizeof err);
		st_close(f);
	}
	return 0;
}
