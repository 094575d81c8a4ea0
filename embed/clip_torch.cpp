// clip_torch.cpp — the libtorch shim behind clip.h: one parameterised ViT image
// tower and text tower driven by open_clip_config.json, with the state-dict names
// of OpenCLIP's VisionTransformer / TextTransformer / CLIP (transformer.py,
// model.py).  No exception crosses extern "C"; nothing is printed; nothing exits.
// libtorch's headers are not warning-clean under -Wshadow -Wextra (an official
// tree is included with -I, not as system headers).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/InferenceMode.h>
#include <torch/cuda.h>     // torch::cuda::is_available, device_count (1.13 and 2.x)
#include <torch/version.h>  // TORCH_VERSION_MAJOR
#pragma GCC diagnostic pop

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <new>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include <unistd.h>

extern "C" {
#include "clip.h"
#include "clipcfg.h"
#include "devname.h"
#include "safetensors.h"
}

namespace {

thread_local std::string g_err;

struct Error : std::runtime_error {
	int status;
	Error(int s, const std::string &m) : std::runtime_error(m), status(s) {}
};

int set_err(int status, const std::string &msg)
{
	g_err = msg;
	return status;
}

// Wraps a body so no exception escapes: our own errors keep their status; a
// libtorch error is CS_EINTERNAL (or CS_ENOMEM for allocation failures).
template <class F> int guarded(F &&f)
{
	try {
		g_err.clear();
		return f();
	} catch (const Error &e) {
		return set_err(e.status, e.what());
	} catch (const std::bad_alloc &) {
		return set_err(CS_ENOMEM, "out of memory");
	} catch (const c10::Error &e) {
		std::string m = e.what_without_backtrace();
		int st = m.find("alloc") != std::string::npos && m.find("memory") != std::string::npos ? CS_ENOMEM
		                                                                                      : CS_EINTERNAL;
		return set_err(st, "libtorch: " + m);
	} catch (const std::exception &e) {
		return set_err(CS_EINTERNAL, std::string("internal error: ") + e.what());
	} catch (...) {
		return set_err(CS_EINTERNAL, "internal error: unknown exception");
	}
}

using at::Tensor;

struct LN {
	Tensor w, b;
	double eps = 1e-5;
};

struct Block {
	LN ln1, ln2;
	Tensor in_w, in_b, out_w, out_b, fc_w, fc_b, pr_w, pr_b;
	Tensor ls1, ls2;  // undefined without LayerScale
};

struct Tower {
	std::vector<Block> blocks;
	int width = 0, heads = 0, act = CLIP_ACT_GELU;
};

std::string shape_str(at::IntArrayRef s)
{
	std::string r = "[";
	for (size_t i = 0; i < s.size(); i++)
		r += (i ? ", " : "") + std::to_string(s[i]);
	return r + "]";
}

} // namespace

struct cs_model {
	clipcfg cfg{};
	st_file *st = nullptr;
	std::string dir, name, fingerprint, device_str, dtype_str, weights_path;
	at::Device device{at::kCPU};
	at::ScalarType dtype = at::kFloat;
	bool fused = true;
	std::set<std::string> used;

	// image tower
	Tensor patch_w;    // [width, 3*p*p]
	Tensor cls_pos;    // class_embedding + positional_embedding[0]: [width]
	Tensor pos_patch;  // positional_embedding[1:]: [grid^2, width]
	LN ln_pre, ln_post;
	bool has_ln_pre = true;
	Tensor vproj;      // [width, embed]
	Tower vis;

	// text tower
	Tensor tok_emb;    // [vocab, width]
	Tensor tpos;       // [ctx, width]
	LN ln_final;
	Tensor tproj, tproj_b;  // [width, embed] (Parameter) or [embed, width] + [embed] (Linear)
	Tower txt;

	double logit_scale = 0, logit_bias = 0;

	~cs_model() { st_close(st); }

	// want: the dtype to convert to (default: the model's); cpu: keep on the CPU
	Tensor load(const std::string &key, std::vector<int64_t> shape,
	            std::optional<at::ScalarType> want = std::nullopt, bool cpu = false);
	LN load_ln(const std::string &prefix, int width, double eps);
	void load_tower(Tower &t, const std::string &prefix, int layers, int width, int heads, int mlp, bool ls,
	                int act, double eps);
	Tensor scalar(const std::string &key);
};

namespace {

at::ScalarType st_to_torch(int dt)
{
	switch (dt) {
	case ST_F32: return at::kFloat;
	case ST_F16: return at::kHalf;
	case ST_BF16: return at::kBFloat16;
	case ST_F64: return at::kDouble;
	default: return at::kByte;
	}
}

} // namespace

// A weight by its state-dict name, checked against the shape the config implies,
// on the model's device in the model's dtype.  F32 weights used as F32 on the CPU
// are wrapped in place in the mmapped file (no copy).
Tensor cs_model::load(const std::string &key, std::vector<int64_t> shape, std::optional<at::ScalarType> want,
                      bool cpu)
{
	const st_tensor *t = st_find(st, key.c_str());
	if (!t)
		throw Error(CS_EMODEL_FORMAT, weights_path + ": tensor " + key + " is missing (config and weights disagree?)");
	std::vector<int64_t> have(t->shape, t->shape + t->ndim);
	if (have != shape)
		throw Error(CS_EMODEL_FORMAT, weights_path + ": tensor " + key + ": expected shape " + shape_str(shape) +
		                                  ", found " + shape_str(have));
	if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16 && t->dtype != ST_F64)
		throw Error(CS_EMODEL_FORMAT, weights_path + ": tensor " + key + ": dtype " + st_dtype_name(t->dtype) +
		                                  " (expected F32, F16 or BF16)");
	used.insert(key);
	auto src_type = st_to_torch(t->dtype);
	void *p = const_cast<void *>(t->data);
	size_t align = st_dtype_size(t->dtype);
	Tensor x;
	if (reinterpret_cast<uintptr_t>(p) % align == 0) {
		x = at::from_blob(p, shape, at::TensorOptions().dtype(src_type));
	} else {
		x = at::empty(shape, at::TensorOptions().dtype(src_type));
		std::memcpy(x.data_ptr(), p, t->end - t->begin);
	}
	auto dt = want ? *want : dtype;
	auto dev = cpu ? at::Device(at::kCPU) : device;
	if (x.device() == dev && src_type == dt)
		return x;  // zero-copy view of the mmap: never written to
	return x.to(dev, dt);
}

LN cs_model::load_ln(const std::string &prefix, int width, double eps)
{
	LN l;
	// LayerNorm runs in fp32 whatever the model's dtype
	l.w = load(prefix + ".weight", {width}, at::kFloat);
	l.b = load(prefix + ".bias", {width}, at::kFloat);
	l.eps = eps;
	return l;
}

void cs_model::load_tower(Tower &t, const std::string &prefix, int layers, int width, int heads, int mlp, bool ls,
                          int act, double eps)
{
	t.width = width;
	t.heads = heads;
	t.act = act;
	for (int i = 0; i < layers; i++) {
		std::string p = prefix + "transformer.resblocks." + std::to_string(i) + ".";
		Block b;
		b.ln1 = load_ln(p + "ln_1", width, eps);
		b.ln2 = load_ln(p + "ln_2", width, eps);
		b.in_w = load(p + "attn.in_proj_weight", {3 * width, width});
		b.in_b = load(p + "attn.in_proj_bias", {3 * width});
		b.out_w = load(p + "attn.out_proj.weight", {width, width});
		b.out_b = load(p + "attn.out_proj.bias", {width});
		b.fc_w = load(p + "mlp.c_fc.weight", {mlp, width});
		b.fc_b = load(p + "mlp.c_fc.bias", {mlp});
		b.pr_w = load(p + "mlp.c_proj.weight", {width, mlp});
		b.pr_b = load(p + "mlp.c_proj.bias", {width});
		if (ls) {
			b.ls1 = load(p + "ls_1.gamma", {width});
			b.ls2 = load(p + "ls_2.gamma", {width});
		}
		t.blocks.push_back(std::move(b));
	}
}

Tensor cs_model::scalar(const std::string &key)
{
	const st_tensor *t = st_find(st, key.c_str());
	if (t && t->ndim == 1 && t->shape[0] == 1)  // some exports store [1]
		return load(key, {1}, at::kDouble, true);
	return load(key, {}, at::kDouble, true);
}

namespace {

Tensor layer_norm(const Tensor &x, const LN &l)
{
	if (x.scalar_type() == at::kFloat)
		return at::layer_norm(x, {l.w.size(0)}, l.w, l.b, l.eps);
	return at::layer_norm(x.to(at::kFloat), {l.w.size(0)}, l.w, l.b, l.eps).to(x.scalar_type());
}

// y = x W^T + b on rows x [T, in]: one GEMM with the bias folded in
Tensor lin(const Tensor &x, const Tensor &w, const Tensor &b)
{
	return at::addmm(b, x, w.t());
}

void activation_(Tensor &x, int act)
{
	switch (act) {
	case CLIP_ACT_GELU_TANH: x = at::gelu(x, "tanh"); break;
	case CLIP_ACT_QUICK_GELU: x.mul_(at::sigmoid(x * 1.702)); break;
	default: x = at::gelu(x); break;
	}
}

Tensor softmax_last(const Tensor &s)
{
	if (s.scalar_type() == at::kFloat)
		return at::softmax(s, -1);
	return at::softmax(s, -1, at::kFloat).to(s.scalar_type());  // reduced precision: softmax in fp32
}

// The rows of a batch of N sequences, kept packed as a 2-D [T, C] matrix so every
// linear layer is one GEMM over real tokens only.  Uniform batches (images,
// bidirectional text) are N sequences of L rows; causal text is ragged (each prompt
// only up to its pooled token), padded to L for attention alone: padding sits after
// every real position, so the causal mask keeps it out of every real row.
struct Seqs {
	int64_t N = 0, L = 0;
	bool causal = false, ragged = false;
	Tensor pad_index;    // [N*L]: packed row of each padded slot (ragged only)
	Tensor unpad_index;  // [T]: padded slot of each packed row (ragged only)
	Tensor last_pos;     // [N, 1, 1, L] additive mask for a query at each sequence's pooled position (causal only)
};

// Full self-attention over all rows (nn.MultiheadAttention, batch-first).
Tensor attention(const Tensor &h, const Block &b, int heads, const Seqs &sq, bool fused)
{
	const int64_t N = sq.N, L = sq.L, C = h.size(1), hd = C / heads;
	Tensor qkv = lin(h, b.in_w, b.in_b);
	if (sq.ragged)
		qkv = qkv.index_select(0, sq.pad_index);
	qkv = qkv.view({N, L, 3, heads, hd}).permute({2, 0, 3, 1, 4});
	Tensor q = qkv[0], k = qkv[1], v = qkv[2];  // [N, H, L, hd]
	Tensor o;
	const bool causal = sq.causal && L > 1;
#if TORCH_VERSION_MAJOR >= 2
	if (fused) {
		o = at::scaled_dot_product_attention(q, k, v, {}, 0.0, causal);
	} else
#endif
	{
		(void)fused;
		const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
		Tensor qf = q.reshape({N * heads, L, hd}), kf = k.reshape({N * heads, L, hd});
		Tensor vf = v.reshape({N * heads, L, hd});
		Tensor s;
		if (causal) {
			Tensor mask = at::full({L, L}, -std::numeric_limits<float>::infinity(), h.options()).triu_(1);
			s = at::baddbmm(mask, qf, kf.transpose(1, 2), 1.0, scale);
		} else {
			s = at::bmm(qf, kf.transpose(1, 2)).mul_(scale);
		}
		o = at::bmm(softmax_last(s), vf).view({N, heads, L, hd});
	}
	o = o.permute({0, 2, 1, 3}).reshape({N * L, C});
	if (sq.ragged)
		o = o.index_select(0, sq.unpad_index);
	return lin(o, b.out_w, b.out_b);
}

// Attention for one query row per sequence (sel: packed row indices [N]) against
// all of its sequence's keys: the last block when only the pooled token is used.
Tensor attention_sel(const Tensor &h, const Tensor &sel, const Block &b, int heads, const Seqs &sq)
{
	const int64_t N = sq.N, L = sq.L, C = h.size(1), hd = C / heads;
	const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
	Tensor q = lin(h.index_select(0, sel), b.in_w.slice(0, 0, C), b.in_b.slice(0, 0, C));
	Tensor kv = lin(h, b.in_w.slice(0, C), b.in_b.slice(0, C));
	if (sq.ragged)
		kv = kv.index_select(0, sq.pad_index);
	kv = kv.view({N, L, 2, heads, hd}).permute({2, 0, 3, 1, 4});
	Tensor k = kv[0], v = kv[1];                             // [N, H, L, hd]
	Tensor s = at::matmul(q.view({N, heads, 1, hd}), k.transpose(2, 3)).mul_(scale);  // [N, H, 1, L]
	if (sq.causal)
		s.add_(sq.last_pos);
	Tensor o = at::matmul(softmax_last(s), v).reshape({N, C});
	return lin(o, b.out_w, b.out_b);
}

void mlp_residual_(Tensor &x, const Block &b, const Tower &t)
{
	Tensor m = lin(layer_norm(x, b.ln2), b.fc_w, b.fc_b);
	activation_(m, t.act);
	m = lin(m, b.pr_w, b.pr_b);
	if (b.ls2.defined())
		x.addcmul_(m, b.ls2);
	else
		x.add_(m);
}

void block_forward_(Tensor &x, const Block &b, const Tower &t, const Seqs &sq, bool fused)
{
	Tensor a = attention(layer_norm(x, b.ln1), b, t.heads, sq, fused);
	if (b.ls1.defined())
		x.addcmul_(a, b.ls1);
	else
		x.add_(a);
	mlp_residual_(x, b, t);
}

// Runs the tower on packed rows x [T, C]; with sel, the last block computes only
// the selected rows and the result is [N, C], else all rows [T, C].
Tensor tower_forward(Tensor x, const Tower &t, const Seqs &sq, bool fused, const Tensor &sel)
{
	const size_t n = t.blocks.size(), full = sel.defined() ? n - 1 : n;
	for (size_t i = 0; i < full; i++)
		block_forward_(x, t.blocks[i], t, sq, fused);
	if (!sel.defined())
		return x;
	const Block &b = t.blocks[n - 1];
	Tensor xs = x.index_select(0, sel);
	Tensor a = attention_sel(layer_norm(x, b.ln1), sel, b, t.heads, sq);
	if (b.ls1.defined())
		xs.addcmul_(a, b.ls1);
	else
		xs.add_(a);
	mlp_residual_(xs, b, t);
	return xs;
}

void write_out(const Tensor &feat, float *out, int normalize)
{
	Tensor f = feat.to(at::kCPU, at::kFloat).contiguous();
	if (normalize) {
		// F.normalize: x / max(||x||, 1e-12)
		Tensor n = f.norm(2, -1, true).clamp_min(1e-12);
		f = (f / n).contiguous();
	}
	std::memcpy(out, f.data_ptr<float>(), static_cast<size_t>(f.numel()) * sizeof(float));
}

std::string basename_of(std::string d)
{
	while (d.size() > 1 && d.back() == '/')
		d.pop_back();
	size_t s = d.rfind('/');
	return s == std::string::npos ? d : d.substr(s + 1);
}

void parse_device(const char *dev, at::Device &out, std::string &str)
{
	int idx;
	const int kind = devname_parse(dev, &idx);
	if (kind == DEVNAME_BAD)
		throw Error(CS_EINVAL, std::string("device \"") + dev + "\": expected auto, cpu, cuda or cuda:N");
	if (kind == DEVNAME_CPU || (kind == DEVNAME_AUTO && !torch::cuda::is_available())) {
		out = at::Device(at::kCPU);
		str = "cpu";
		return;
	}
	if (!torch::cuda::is_available())
		throw Error(CS_EDEVICE, std::string("device \"") + dev + "\": CUDA is not available (no GPU, or libtorch built without CUDA)");
	if (idx >= static_cast<int>(torch::cuda::device_count()))
		throw Error(CS_EDEVICE, std::string("device \"") + dev + "\": only " + std::to_string(torch::cuda::device_count()) +
		                            " CUDA device(s)");
	out = at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(idx));
	str = "cuda:" + std::to_string(idx);
}

void pick_dtype(int want, const at::Device &dev, at::ScalarType &dt, std::string &str)
{
	switch (want) {
	case CS_DTYPE_AUTO:
		// CUDA: fp16 (tensor cores); CPU: fp32 (see clipsort-models(7) for the bf16 measurement)
		if (dev.is_cuda()) {
			dt = at::kHalf;
			str = "f16";
		} else {
			dt = at::kFloat;
			str = "f32";
		}
		return;
	case CS_DTYPE_F32: dt = at::kFloat; str = "f32"; return;
	case CS_DTYPE_F16:
		if (!dev.is_cuda())
			throw Error(CS_EDEVICE, "dtype f16 needs a CUDA device (use bf16 or f32 on the CPU)");
		dt = at::kHalf;
		str = "f16";
		return;
	case CS_DTYPE_BF16: dt = at::kBFloat16; str = "bf16"; return;
	default: throw Error(CS_EINVAL, "dtype " + std::to_string(want) + ": expected one of CS_DTYPE_*");
	}
}

// ---- CPU tensors: buffers kept for the next batch ----
// A forward pass allocates and frees the same sizes in every block of every batch.
// glibc hands blocks above its mmap threshold (at most 32 MB) back to the kernel on
// free, so each batch faulted those pages in again and the kernel zeroed them: ViT-L-14
// at batch 8 took ~790,000 page faults (3 GB zeroed) per batch.  Buffers of 1 MB and
// more are kept here on per-size free lists, up to twice as many bytes as were ever
// live at once (ViT-L-14 at batch 8 needs 1.6 times: buffers of one size cannot serve
// another), so a batch finds the buffers of the one before;
// smaller ones go straight to the C library.  The state is never destroyed: tensors
// may be freed during exit.
class ReuseAllocator final : public c10::Allocator {
public:
	static constexpr size_t kHeader = 64;  // keeps libtorch's 64-byte alignment
	static constexpr size_t kMinKept = size_t(1) << 20;

	// libtorch 1.x declares allocate() const, 2.3 and later not: one of the two overrides.
	c10::DataPtr allocate(size_t n) const { return take(n); }
	c10::DataPtr allocate(size_t n) { return take(n); }
	c10::DeleterFnPtr raw_deleter() const override { return &release; }
	void copy_data(void *dst, const void *src, size_t n) const { std::memcpy(dst, src, n); }  // 2.3+

	static void drop_cache()
	{
		State &st = state();
		std::lock_guard<std::mutex> lk(st.mu);
		for (auto &kv : st.lists)
			for (void *b : kv.second)
				std::free(b);
		st.lists.clear();
		st.cached = 0;
	}

private:
	struct State {
		std::mutex mu;
		std::unordered_map<size_t, std::vector<void *>> lists;
		size_t cached = 0, live = 0, peak = 0;
	};
	static State &state()
	{
		static State *st = new State;
		return *st;
	}
	// Sizes from 1 MB up are rounded up to 16 classes per power of two (at most 6.25%
	// more), so sequences of slightly different lengths share buffers.
	static size_t size_class(size_t n)
	{
		if (n < kMinKept)
			return n;
		size_t g = kMinKept / 16;
		while (g * 32 <= n)
			g *= 2;
		return (n + g - 1) / g * g;
	}

	static c10::DataPtr take(size_t n)
	{
		TORCH_CHECK(n <= std::numeric_limits<size_t>::max() / 2, "CPU allocator: not enough memory: you tried to allocate ",
		            n, " bytes");
		const size_t cls = size_class(n);
		void *base = nullptr;
		if (cls >= kMinKept) {
			State &st = state();
			std::lock_guard<std::mutex> lk(st.mu);
			auto it = st.lists.find(cls);
			if (it != st.lists.end() && !it->second.empty()) {
				base = it->second.back();
				it->second.pop_back();
				st.cached -= cls;
			}
			st.live += cls;
			st.peak = std::max(st.peak, st.live);
		}
		if (!base && posix_memalign(&base, kHeader, kHeader + cls) != 0) {
			if (cls >= kMinKept) {
				State &st = state();
				std::lock_guard<std::mutex> lk(st.mu);
				st.live -= cls;
			}
			TORCH_CHECK(false, "CPU allocator: not enough memory: you tried to allocate ", n, " bytes");
		}
		*static_cast<size_t *>(base) = cls;
		void *p = static_cast<char *>(base) + kHeader;
		return {p, p, &release, at::Device(at::kCPU)};
	}

	static void release(void *p)
	{
		if (!p)
			return;
		void *base = static_cast<char *>(p) - kHeader;
		const size_t cls = *static_cast<size_t *>(base);
		if (cls >= kMinKept) {
			State &st = state();
			std::lock_guard<std::mutex> lk(st.mu);
			st.live -= cls;
			if (st.cached + cls <= 2 * st.peak) {
				st.lists[cls].push_back(base);
				st.cached += cls;
				return;
			}
		}
		std::free(base);
	}
};

std::mutex g_models_mu;
int g_models = 0;  // models loaded; the kept buffers are freed when the last one is

void models_add(int d)
{
	static ReuseAllocator *alloc = new ReuseAllocator;
	std::lock_guard<std::mutex> lk(g_models_mu);
	static const bool off = [] {
		const char *e = getenv("CLIPSORT_ENGINE_ALLOC");  // "system": libtorch's own (clipsort-models(7))
		return e && !strcmp(e, "system");
	}();
	if (d > 0 && g_models == 0 && !off)
		c10::SetCPUAllocator(alloc, 1);
	g_models += d;
	if (g_models == 0)
		ReuseAllocator::drop_cache();
}

int online_cpus()
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? static_cast<int>(n) : 1;
}

void load_model(cs_model *m, const char *dir, const cs_model_params *p)
{
	char err[1024] = "";
	int rc;
	m->dir = dir;
	m->name = basename_of(dir);
	m->fused = p->fused_attention != 0;
	if (access(dir, F_OK) != 0)
		throw Error(CS_EMODEL_MISSING, std::string(dir) + ": model directory not found (see clipsort-models(7))");
	std::string cfgpath = std::string(dir) + "/open_clip_config.json";
	if ((rc = clipcfg_load(cfgpath.c_str(), &m->cfg, err, sizeof err)) != 0)
		throw Error(rc, err);
	m->weights_path = std::string(dir) + "/open_clip_model.safetensors";
	if ((rc = st_open(m->weights_path.c_str(), &m->st, err, sizeof err)) != 0)
		throw Error(rc, err);
	char fp[65];
	if ((rc = st_fingerprint(m->st, fp, err, sizeof err)) != 0)
		throw Error(rc, err);
	m->fingerprint = fp;

	parse_device(p->device, m->device, m->device_str);
	pick_dtype(p->dtype, m->device, m->dtype, m->dtype_str);
	at::set_num_threads(p->n_threads > 0 ? p->n_threads : online_cpus());

	const clipcfg &c = m->cfg;
	const clip_vision_cfg &v = c.vision;
	const int64_t grid = v.image_size / v.patch_size, vw = v.width;
	Tensor conv = m->load("visual.conv1.weight", {vw, 3, v.patch_size, v.patch_size});
	m->patch_w = conv.reshape({vw, 3 * v.patch_size * v.patch_size});
	Tensor cls = m->load("visual.class_embedding", {vw});
	Tensor pos = m->load("visual.positional_embedding", {grid * grid + 1, vw});
	m->cls_pos = (cls + pos[0]).contiguous();
	m->pos_patch = pos.slice(0, 1);
	m->has_ln_pre = !v.no_ln_pre;
	if (m->has_ln_pre)
		m->ln_pre = m->load_ln("visual.ln_pre", v.width, v.ln_eps);
	m->load_tower(m->vis, "visual.", v.layers, v.width, v.heads, v.mlp_width, v.has_ls, v.act, v.ln_eps);
	m->ln_post = m->load_ln("visual.ln_post", v.width, v.ln_eps);
	m->vproj = m->load("visual.proj", {vw, c.embed_dim});

	const clip_text_cfg &t = c.text;
	const std::string tp = c.custom_text ? "text." : "";
	m->tok_emb = m->load(tp + "token_embedding.weight", {t.vocab_size, t.width});
	m->tpos = m->load(tp + "positional_embedding", {t.context_length, t.width});
	m->load_tower(m->txt, tp, t.layers, t.width, t.heads, t.mlp_width, t.has_ls, t.act, t.ln_eps);
	m->ln_final = m->load_ln(tp + "ln_final", t.width, t.ln_eps);
	if (t.proj_bias) {
		m->tproj = m->load(tp + "text_projection.weight", {c.embed_dim, t.width});
		m->tproj_b = m->load(tp + "text_projection.bias", {c.embed_dim});
	} else {
		m->tproj = m->load(tp + "text_projection", {t.width, c.embed_dim});
	}
	m->logit_scale = std::exp(m->scalar("logit_scale").item<double>());
	if (c.has_logit_bias)
		m->logit_bias = m->scalar("logit_bias").item<double>();

	for (size_t i = 0; i < st_count(m->st); i++) {
		const char *n = st_at(m->st, i)->name;
		if (!m->used.count(n))
			throw Error(CS_EMODEL_FORMAT, m->weights_path + ": unexpected tensor " + n +
			                                  " (the config does not describe these weights)");
	}
}

Tensor long_tensor(const std::vector<int64_t> &v, const at::Device &dev)
{
	return at::tensor(at::ArrayRef<int64_t>(v), at::TensorOptions().dtype(at::kLong)).to(dev);
}

Tensor encode_image(cs_model *m, const float *chw, int n)
{
	const clip_vision_cfg &v = m->cfg.vision;
	const int64_t S = v.image_size, P = v.patch_size, G = S / P, W = v.width, L = G * G + 1;
	Tensor x = at::from_blob(const_cast<float *>(chw), {n, 3, G, P, G, P}, at::kFloat);
	// patchify = conv1 with stride = kernel: [N, G, G, 3, P, P] rows times conv1.weight^T
	x = x.permute({0, 2, 4, 1, 3, 5}).to(m->device, m->dtype).reshape({n, G * G, 3 * P * P});
	x = at::matmul(x, m->patch_w.t()).add_(m->pos_patch);
	x = at::cat({m->cls_pos.expand({n, 1, W}), x}, 1).view({n * L, W});
	if (m->has_ln_pre)
		x = layer_norm(x, m->ln_pre);
	Seqs sq;
	sq.N = n;
	sq.L = L;
	Tensor pooled;
	if (v.pool == CLIP_POOL_AVG) {
		x = tower_forward(x, m->vis, sq, m->fused, Tensor()).view({n, L, W});
		pooled = v.final_ln_after_pool ? layer_norm(x.slice(1, 1).mean(1), m->ln_post)
		                               : layer_norm(x, m->ln_post).slice(1, 1).mean(1);
	} else {  // class token; LayerNorm is per token: ln_post(x)[:, 0] == ln_post(x[:, 0])
		std::vector<int64_t> sel(static_cast<size_t>(n));
		for (int i = 0; i < n; i++)
			sel[i] = i * L;
		pooled = layer_norm(tower_forward(x, m->vis, sq, m->fused, long_tensor(sel, m->device)), m->ln_post);
	}
	return at::matmul(pooled, m->vproj);
}

Tensor encode_text(cs_model *m, const int64_t *tokens, int n)
{
	const clip_text_cfg &t = m->cfg.text;
	const int64_t ctx = t.context_length;
	std::vector<int64_t> idx(static_cast<size_t>(n)), len(static_cast<size_t>(n));
	for (int i = 0; i < n; i++) {
		const int64_t *row = tokens + static_cast<int64_t>(i) * ctx;
		int64_t best = 0, eos = -1;
		for (int64_t j = 0; j < ctx; j++) {
			if (row[j] < 0 || row[j] >= t.vocab_size)
				throw Error(CS_EINVAL, "prompt " + std::to_string(i) + ", position " + std::to_string(j) + ": token id " +
				                           std::to_string(row[j]) + " outside the vocabulary [0, " +
				                           std::to_string(t.vocab_size) + ")");
			if (row[j] > row[best])
				best = j;  // first maximum, as torch.argmax
			if (eos < 0 && row[j] == t.eos_id)
				eos = j;
		}
		switch (t.pool) {
		case CLIP_POOL_EOS: idx[i] = eos < 0 ? 0 : eos; break;
		case CLIP_POOL_FIRST: idx[i] = 0; break;
		case CLIP_POOL_LAST: idx[i] = ctx - 1; break;
		default: idx[i] = best; break;
		}
		// Under the causal mask no position sees a later one, so positions after the
		// pooled one cannot change the output: each prompt runs only up to it.
		// Bidirectional attention must see the whole context.
		len[i] = t.causal ? idx[i] + 1 : ctx;
	}
	Seqs sq;
	sq.N = n;
	sq.L = *std::max_element(len.begin(), len.end());
	sq.causal = t.causal;
	std::vector<int64_t> ids, pos, sel(static_cast<size_t>(n)), start(static_cast<size_t>(n));
	for (int i = 0; i < n; i++) {
		start[i] = static_cast<int64_t>(ids.size());
		for (int64_t j = 0; j < len[i]; j++) {
			ids.push_back(tokens[static_cast<int64_t>(i) * ctx + j]);
			pos.push_back(j);
		}
		sel[i] = start[i] + idx[i];
		sq.ragged = sq.ragged || len[i] != sq.L;
	}
	if (sq.ragged) {
		std::vector<int64_t> pad(static_cast<size_t>(n * sq.L)), unpad(ids.size());
		for (int i = 0; i < n; i++)
			for (int64_t j = 0; j < sq.L; j++) {
				pad[i * sq.L + j] = start[i] + std::min(j, len[i] - 1);
				if (j < len[i])
					unpad[start[i] + j] = i * sq.L + j;
			}
		sq.pad_index = long_tensor(pad, m->device);
		sq.unpad_index = long_tensor(unpad, m->device);
	}
	if (sq.causal) {  // the pooled query (at idx[i]) sees keys 0..idx[i]
		Tensor mask = at::zeros({n, 1, 1, sq.L}, at::TensorOptions().dtype(at::kFloat));
		auto acc = mask.accessor<float, 4>();
		for (int i = 0; i < n; i++)
			for (int64_t j = idx[i] + 1; j < sq.L; j++)
				acc[i][0][0][j] = -std::numeric_limits<float>::infinity();
		sq.last_pos = mask.to(m->device, m->dtype);
	}
	Tensor x = at::embedding(m->tok_emb, long_tensor(ids, m->device)).add_(m->tpos.index_select(0, long_tensor(pos, m->device)));
	Tensor pooled = layer_norm(tower_forward(x, m->txt, sq, m->fused, long_tensor(sel, m->device)), m->ln_final);
	if (m->tproj_b.defined())
		return lin(pooled, m->tproj, m->tproj_b);
	return at::matmul(pooled, m->tproj);
}

} // namespace

extern "C" {

cs_model_params cs_model_default_params(void)
{
	cs_model_params p;
	p.device = "auto";
	p.dtype = CS_DTYPE_AUTO;
	p.n_threads = 0;
	p.fused_attention = 1;
	return p;
}

int cs_model_load(const char *dir, const cs_model_params *params, cs_model **out)
{
	if (out)
		*out = nullptr;
	return guarded([&]() -> int {
		if (!dir || !out)
			throw Error(CS_EINVAL, "cs_model_load: NULL argument");
		cs_model_params p = params ? *params : cs_model_default_params();
		auto *m = new cs_model;
		models_add(1);
		try {
			c10::InferenceMode guard;
			load_model(m, dir, &p);
		} catch (...) {
			delete m;
			models_add(-1);
			throw;
		}
		*out = m;
		return CS_OK;
	});
}

void cs_model_free(cs_model *m)
{
	if (!m)
		return;
	try {
		delete m;
		models_add(-1);
	} catch (...) {
	}
}

int cs_model_get_info(const cs_model *m, cs_model_info *info)
{
	return guarded([&]() -> int {
		if (!m || !info)
			throw Error(CS_EINVAL, "cs_model_get_info: NULL argument");
		const clipcfg &c = m->cfg;
		std::memset(info, 0, sizeof *info);
		info->embed_dim = c.embed_dim;
		info->image_size = c.vision.image_size;
		info->patch_size = c.vision.patch_size;
		info->context_length = c.text.context_length;
		info->vocab_size = c.text.vocab_size;
		info->logit_scale = m->logit_scale;
		info->logit_bias = m->logit_bias;
		info->has_logit_bias = c.has_logit_bias;
		info->name = m->name.c_str();
		info->fingerprint = m->fingerprint.c_str();
		info->device = m->device_str.c_str();
		info->dtype = m->dtype_str.c_str();
		for (int i = 0; i < 3; i++) {
			info->mean[i] = c.mean[i];
			info->std[i] = c.std[i];
		}
		info->interpolation = c.interpolation;
		info->resize_mode = c.resize_mode;
		info->fill_color = c.fill_color;
		return CS_OK;
	});
}

int cs_encode_image(cs_model *m, const float *chw_batch, int n, float *out, int normalize)
{
	return guarded([&]() -> int {
		if (!m || !chw_batch || !out || n < 1)
			throw Error(CS_EINVAL, "cs_encode_image: NULL argument or n < 1");
		c10::InferenceMode guard;
		write_out(encode_image(m, chw_batch, n), out, normalize);
		return CS_OK;
	});
}

int cs_encode_text(cs_model *m, const int64_t *tokens, int n, float *out, int normalize)
{
	return guarded([&]() -> int {
		if (!m || !tokens || !out || n < 1)
			throw Error(CS_EINVAL, "cs_encode_text: NULL argument or n < 1");
		c10::InferenceMode guard;
		write_out(encode_text(m, tokens, n), out, normalize);
		return CS_OK;
	});
}

const char *cs_errmsg(void)
{
	return g_err.c_str();
}

} // extern "C"
