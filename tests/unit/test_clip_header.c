/* Compile-only proof that embed/clip.h is valid C11 (built with -std=c11 -pedantic);
 * the checks below only confirm the constants the header promises. */
#include "../../embed/clip.h"
#include "check.h"

/* Not called: only the prototypes must compile (not linked against the engine). */
typedef int load_fn(const char *, const cs_model_params *, cs_model **);
typedef int text_fn(cs_model *, const int64_t *, int, float *, int);

int main(void)
{
	cs_model_info info = {0};
	cs_model_params p = {0};
	CHECK(CS_OK == 0, "CS_OK");
	CHECK(CS_EMODEL_MISSING < 0 && CS_EMODEL_FORMAT < 0 && CS_EUNSUPPORTED < 0 &&
	      CS_EDEVICE < 0 && CS_EINVAL < 0 && CS_ENOMEM < 0 && CS_EINTERNAL < 0, "codes negative");
	CHECK(sizeof(load_fn *) == sizeof(void (*)(void)) && sizeof(text_fn *) > 0, "prototypes");
	CHECK(info.embed_dim == 0 && p.dtype == CS_DTYPE_AUTO, "zero init");
	return check_done();
}
