#!/bin/bash
# t-engine: the OpenCLIP engine (clip.h) on generated random-weight models.
#  - every config option against an independent float64 numpy forward pass written
#    from OpenCLIP's module semantics (transformer.py / model.py);
#  - invariances (batch size; tokens after the pooled one under the causal mask);
#  - bad model directories: clear message, documented status, no crash;
#  - clipsort-fetch-model offline; model-name resolution.
# The helper is $TOBJ/test_engine (see tests/unit/test_engine.c).
. "$(dirname "$0")/lib.sh"
: "${TOBJ:=$SRC/build/obj/tests}"
ENG=$TOBJ/test_engine
PY=${PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3

if [ ! -x "$ENG" ]; then
	not_ok "engine helper" "$ENG not built (make $ENG)"
	t_done; exit
fi

cat >"$TMP/ref.py" <<'PYEOF'
# Reference OpenCLIP forward pass in float64 numpy, and a writer of OpenCLIP hub
# model directories with random weights.  Usage:
#   ref.py make DIR SEED DTYPE CONFIG_JSON      write DIR (weights stored as DTYPE)
#   ref.py image DIR SEED N IN.f32 OUT.f32      random inputs, reference features
#   ref.py text DIR SEED N IN.i64 OUT.f32 [MODE]
#   ref.py compare A.f32 B.f32 D MINCOS TOL     exit 1 unless every row matches
import json, math, struct, sys, os
import numpy as np
from scipy.special import erf

def f32_to_bf16_bits(a):
    b = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    b = (b + 0x7FFF + ((b >> 16) & 1)) >> 16          # round to nearest even
    return b.astype(np.uint16)

def bf16_bits_to_f64(u):
    return (u.astype(np.uint32) << 16).view(np.float32).astype(np.float64)

def write_safetensors(path, tensors, dtype):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = np.asarray(tensors[name], dtype=np.float32)
        if name == 'logit_scale' or name == 'logit_bias' or dtype == 'F32':
            raw, dt = a.astype('<f4').tobytes(), 'F32'
        elif dtype == 'F16':
            raw, dt = a.astype('<f2').tobytes(), 'F16'
        else:
            raw, dt = f32_to_bf16_bits(a).astype('<u2').tobytes(), 'BF16'
        header[name] = {'dtype': dt, 'shape': list(a.shape), 'data_offsets': [off, off + len(raw)]}
        blobs.append(raw); off += len(raw)
    header['__metadata__'] = {'format': 'pt'}
    h = json.dumps(header).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h))); f.write(h)
        for b in blobs: f.write(b)

def read_safetensors(path):
    d = open(path, 'rb').read()
    n = struct.unpack('<Q', d[:8])[0]
    h = json.loads(d[8:8 + n]); base = 8 + n; out = {}
    for k, v in h.items():
        if k == '__metadata__': continue
        s, e = v['data_offsets']; raw = d[base + s: base + e]
        if v['dtype'] == 'F32': a = np.frombuffer(raw, '<f4').astype(np.float64)
        elif v['dtype'] == 'F16': a = np.frombuffer(raw, '<f2').astype(np.float64)
        else: a = bf16_bits_to_f64(np.frombuffer(raw, '<u2'))
        out[k] = a.reshape(v['shape'])
    return out

def cfg_of(d):
    c = json.load(open(os.path.join(d, 'open_clip_config.json')))['model_cfg']
    v, t = c['vision_cfg'], c['text_cfg']
    return c, v, t

def tower_params(rng, p, prefix, width, layers, mlp, ls):
    for i in range(layers):
        b = f'{prefix}transformer.resblocks.{i}.'
        s = width ** -0.5
        p[b + 'ln_1.weight'] = 1 + 0.1 * rng.standard_normal(width); p[b + 'ln_1.bias'] = 0.1 * rng.standard_normal(width)
        p[b + 'ln_2.weight'] = 1 + 0.1 * rng.standard_normal(width); p[b + 'ln_2.bias'] = 0.1 * rng.standard_normal(width)
        p[b + 'attn.in_proj_weight'] = s * rng.standard_normal((3 * width, width))
        p[b + 'attn.in_proj_bias'] = 0.1 * rng.standard_normal(3 * width)
        p[b + 'attn.out_proj.weight'] = s * rng.standard_normal((width, width))
        p[b + 'attn.out_proj.bias'] = 0.1 * rng.standard_normal(width)
        p[b + 'mlp.c_fc.weight'] = s * rng.standard_normal((mlp, width))
        p[b + 'mlp.c_fc.bias'] = 0.1 * rng.standard_normal(mlp)
        p[b + 'mlp.c_proj.weight'] = mlp ** -0.5 * rng.standard_normal((width, mlp))
        p[b + 'mlp.c_proj.bias'] = 0.1 * rng.standard_normal(width)
        if ls:
            p[b + 'ls_1.gamma'] = 0.5 + rng.random(width); p[b + 'ls_2.gamma'] = 0.5 + rng.random(width)

def make(d, seed, dtype, cfgjson):
    os.makedirs(d, exist_ok=True)
    cfg = json.loads(cfgjson)
    with open(os.path.join(d, 'open_clip_config.json'), 'w') as f:
        json.dump(cfg, f)
    c, v, t = cfg_of(d)
    rng = np.random.default_rng(seed)
    p = {}
    E = c['embed_dim']
    vw, S, P = v.get('width', 768), v.get('image_size', 224), v.get('patch_size', 16)
    G = S // P
    vmlp = int(vw * v.get('mlp_ratio', 4.0))
    p['visual.conv1.weight'] = (3 * P * P) ** -0.5 * rng.standard_normal((vw, 3, P, P))
    p['visual.class_embedding'] = rng.standard_normal(vw) * 0.5
    p['visual.positional_embedding'] = rng.standard_normal((G * G + 1, vw)) * 0.5
    if not v.get('no_ln_pre', False):
        p['visual.ln_pre.weight'] = 1 + 0.1 * rng.standard_normal(vw); p['visual.ln_pre.bias'] = 0.1 * rng.standard_normal(vw)
    tower_params(rng, p, 'visual.', vw, v.get('layers', 12), vmlp, v.get('ls_init_value') is not None)
    p['visual.ln_post.weight'] = 1 + 0.1 * rng.standard_normal(vw); p['visual.ln_post.bias'] = 0.1 * rng.standard_normal(vw)
    p['visual.proj'] = vw ** -0.5 * rng.standard_normal((vw, E))
    tp = 'text.' if c.get('custom_text') else ''
    tw, ctx, V = t.get('width', 512), t.get('context_length', 77), t.get('vocab_size', 49408)
    tmlp = int(tw * t.get('mlp_ratio', 4.0))
    p[tp + 'token_embedding.weight'] = 0.5 * rng.standard_normal((V, tw))
    p[tp + 'positional_embedding'] = 0.3 * rng.standard_normal((ctx, tw))
    tower_params(rng, p, tp, tw, t.get('layers', 12), tmlp, t.get('ls_init_value') is not None)
    p[tp + 'ln_final.weight'] = 1 + 0.1 * rng.standard_normal(tw); p[tp + 'ln_final.bias'] = 0.1 * rng.standard_normal(tw)
    if t.get('proj_bias'):
        p[tp + 'text_projection.weight'] = tw ** -0.5 * rng.standard_normal((E, tw))
        p[tp + 'text_projection.bias'] = 0.1 * rng.standard_normal(E)
    else:
        p[tp + 'text_projection'] = tw ** -0.5 * rng.standard_normal((tw, E))
    p['logit_scale'] = np.array(np.log(1 / 0.07) + 0.1 * rng.standard_normal())
    if c.get('init_logit_bias') is not None:
        p['logit_bias'] = np.array(-10 + rng.standard_normal())
    write_safetensors(os.path.join(d, 'open_clip_model.safetensors'), p, dtype)

def ln(x, w, b, eps):
    m = x.mean(-1, keepdims=True); var = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(var + eps) * w + b

def act(x, kind):
    if kind == 'quick': return x / (1 + np.exp(-1.702 * x))
    if kind == 'tanh': return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1 + erf(x / math.sqrt(2)))

def tower(x, p, prefix, layers, heads, kind, eps, causal):
    N, L, C = x.shape; hd = C // heads
    mask = np.triu(np.full((L, L), -np.inf), 1) if causal else np.zeros((L, L))
    for i in range(layers):
        b = f'{prefix}transformer.resblocks.{i}.'
        h = ln(x, p[b + 'ln_1.weight'], p[b + 'ln_1.bias'], eps)
        qkv = h @ p[b + 'attn.in_proj_weight'].T + p[b + 'attn.in_proj_bias']
        q, k, v = [a.reshape(N, L, heads, hd).transpose(0, 2, 1, 3) for a in np.split(qkv, 3, axis=-1)]
        s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd) + mask
        s = np.exp(s - s.max(-1, keepdims=True)); s /= s.sum(-1, keepdims=True)
        o = (s @ v).transpose(0, 2, 1, 3).reshape(N, L, C)
        a = o @ p[b + 'attn.out_proj.weight'].T + p[b + 'attn.out_proj.bias']
        if b + 'ls_1.gamma' in p: a = a * p[b + 'ls_1.gamma']
        x = x + a
        h = ln(x, p[b + 'ln_2.weight'], p[b + 'ln_2.bias'], eps)
        m = act(h @ p[b + 'mlp.c_fc.weight'].T + p[b + 'mlp.c_fc.bias'], kind) @ p[b + 'mlp.c_proj.weight'].T + p[b + 'mlp.c_proj.bias']
        if b + 'ls_2.gamma' in p: m = m * p[b + 'ls_2.gamma']
        x = x + m
    return x

def kind_of(c, tc):
    if c.get('quick_gelu'): return 'quick'
    return 'tanh' if (tc.get('act_kwargs') or {}).get('approximate') == 'tanh' else 'erf'

def eps_of(tc):
    return (tc.get('norm_kwargs') or {}).get('eps', 1e-5)

def ref_image(d, x):
    c, v, _ = cfg_of(d); p = read_safetensors(os.path.join(d, 'open_clip_model.safetensors'))
    N = x.shape[0]; P = v.get('patch_size', 16); W = v.get('width', 768); G = x.shape[2] // P
    eps = eps_of(v)
    # conv1: kernel = stride = P, no bias
    patches = x.reshape(N, 3, G, P, G, P).transpose(0, 2, 4, 1, 3, 5).reshape(N, G * G, 3 * P * P)
    t = patches @ p['visual.conv1.weight'].reshape(W, -1).T
    cls = np.broadcast_to(p['visual.class_embedding'], (N, 1, W))
    t = np.concatenate([cls, t], 1) + p['visual.positional_embedding']
    if not v.get('no_ln_pre', False):
        t = ln(t, p['visual.ln_pre.weight'], p['visual.ln_pre.bias'], eps)
    heads = W // v.get('head_width', 64)
    t = tower(t, p, 'visual.', v.get('layers', 12), heads, kind_of(c, v), eps, False)
    lnp = lambda z: ln(z, p['visual.ln_post.weight'], p['visual.ln_post.bias'], eps)
    pool = (lambda z: z[:, 1:].mean(1)) if v.get('pool_type', 'tok') == 'avg' else (lambda z: z[:, 0])
    pooled = lnp(pool(t)) if v.get('final_ln_after_pool') else pool(lnp(t))
    return pooled @ p['visual.proj']

def ref_text(d, ids):
    c, _, tc = cfg_of(d); p = read_safetensors(os.path.join(d, 'open_clip_model.safetensors'))
    tp = 'text.' if c.get('custom_text') else ''
    eps = eps_of(tc)
    x = p[tp + 'token_embedding.weight'][ids] + p[tp + 'positional_embedding']
    x = tower(x, p, tp, tc.get('layers', 12), tc.get('heads', 8), kind_of(c, tc), eps, not tc.get('no_causal_mask', False))
    x = ln(x, p[tp + 'ln_final.weight'], p[tp + 'ln_final.bias'], eps)
    pt = tc.get('pool_type', 'argmax'); n = ids.shape[0]
    if pt == 'first': pooled = x[:, 0]
    elif pt == 'last': pooled = x[:, -1]
    elif pt == 'eos': pooled = x[np.arange(n), (ids == tc.get('eos_id', 2)).astype(int).argmax(-1)]
    else: pooled = x[np.arange(n), ids.argmax(-1)]
    if tc.get('proj_bias'):
        return pooled @ p[tp + 'text_projection.weight'].T + p[tp + 'text_projection.bias']
    return pooled @ p[tp + 'text_projection']

def main(a):
    if a[0] == 'make':
        make(a[1], int(a[2]), a[3], a[4]); return 0
    if a[0] == 'image':
        d, seed, n = a[1], int(a[2]), int(a[3])
        _, v, _ = cfg_of(d); S = v.get('image_size', 224)
        x = np.random.default_rng(seed).standard_normal((n, 3, S, S)).astype(np.float32)
        x.tofile(a[4]); ref_image(d, x.astype(np.float64)).astype(np.float32).tofile(a[5]); return 0
    if a[0] == 'text':
        d, seed, n = a[1], int(a[2]), int(a[3]); mode = a[6] if len(a) > 6 else 'clip'
        _, _, tc = cfg_of(d); ctx, V = tc.get('context_length', 77), tc.get('vocab_size', 49408)
        rng = np.random.default_rng(seed); ids = np.zeros((n, ctx), np.int64)
        eot = V - 1
        for i in range(n):
            L = int(rng.integers(1, ctx - 1)) if i else ctx - 2   # one prompt fills the context
            ids[i, 0] = V - 2; ids[i, 1:L + 1] = rng.integers(1, V - 3, L); ids[i, L + 1] = eot
            if mode == 'tail':  # junk after the EOT (its own generator: the prompts stay the same)
                ids[i, L + 2:] = np.random.default_rng(seed + 1000 + i).integers(1, V - 3, ctx - L - 2)
        if mode == 'eos':   # eos pooling: eos_id token placed mid-sequence, not the max id
            e = tc.get('eos_id', 2)
            for i in range(n): ids[i][ids[i] == e] = 5; ids[i, 1 + i % (ctx - 2)] = e
        ids.tofile(a[4]); ref_text(d, ids).astype(np.float32).tofile(a[5]); return 0
    if a[0] == 'compare':
        A = np.fromfile(a[1], np.float32).astype(np.float64); B = np.fromfile(a[2], np.float32).astype(np.float64)
        D, mincos, tol = int(a[3]), float(a[4]), float(a[5])
        if A.size != B.size or A.size % D:
            print(f'sizes differ: {A.size} vs {B.size}'); return 1
        A = A.reshape(-1, D); B = B.reshape(-1, D)
        cos = (A * B).sum(1) / np.linalg.norm(A, axis=1) / np.linalg.norm(B, axis=1)
        rel = np.abs(A - B).max() / max(np.abs(B).max(), 1e-30)
        print(f'worst cosine {cos.min():.9f}, max abs diff {np.abs(A - B).max():.3g} (relative {rel:.3g})')
        return 0 if cos.min() >= mincos and rel <= tol else 1
    return 2

sys.exit(main(sys.argv[1:]))
PYEOF

have_numpy=1
"$PY" -c 'import numpy, scipy.special' 2>/dev/null || have_numpy=0

# check_model NAME DIR RUN_DTYPE MINCOS RELTOL [TEXTMODE]: both towers of the model in
# DIR against the numpy reference.
check_model() {
	cn=$1 d=$2 rdt=$3 mincos=$4 tol=$5
	D=$("$ENG" info "$d" 2>"$TMP/err" | awk '$1 == "embed_dim" {print $2}')
	if [ -z "$D" ]; then not_ok "$cn: load" "$(cat "$TMP/err")"; return; fi
	"$PY" "$TMP/ref.py" image "$d" 11 3 "$TMP/in.f32" "$TMP/want.f32" &&
	run "$ENG" image "$d" "$rdt" 3 "$TMP/in.f32" "$TMP/got.f32" &&
	run "$PY" "$TMP/ref.py" compare "$TMP/got.f32" "$TMP/want.f32" "$D" "$mincos" "$tol"
	expect "$cn: image tower vs numpy ($(cat "$TMP/out"))" 0
	"$PY" "$TMP/ref.py" text "$d" 12 4 "$TMP/in.i64" "$TMP/want.f32" "${6:-clip}" &&
	run "$ENG" text "$d" "$rdt" 4 "$TMP/in.i64" "$TMP/got.f32" &&
	run "$PY" "$TMP/ref.py" compare "$TMP/got.f32" "$TMP/want.f32" "$D" "$mincos" "$tol"
	expect "$cn: text tower vs numpy ($(cat "$TMP/out"))" 0
}

# conf NAME STORE_DTYPE RUN_DTYPE MINCOS RELTOL JSON [TEXTMODE]: a model written by
# the numpy side (weights stored as STORE_DTYPE), checked as above.
conf() {
	if [ $have_numpy = 0 ]; then skip "$1" "python3 numpy/scipy not installed"; return; fi
	if ! "$PY" "$TMP/ref.py" make "$TMP/m-$1" 7 "$2" "$6" 2>"$TMP/err"; then
		not_ok "$1: make model" "$(cat "$TMP/err")"; return
	fi
	check_model "$1" "$TMP/m-$1" "$3" "$4" "$5" "${7:-clip}"
}

# mkconf NAME MKMODEL_ARGS...: a model written by clipsort-mkmodel, checked in f32.
MK=$SRC/bin/clipsort-mkmodel
mkconf() {
	n=$1; shift
	if [ $have_numpy = 0 ]; then skip "mkmodel $n" "python3 numpy/scipy not installed"; return; fi
	if [ ! -x "$MK" ]; then skip "mkmodel $n" "clipsort-mkmodel not built"; return; fi
	if ! "$MK" --no-vocab "$@" "$TMP/mk-$n" >/dev/null 2>"$TMP/err"; then
		not_ok "mkmodel $n: make model" "$(cat "$TMP/err")"; return
	fi
	check_model "mkmodel $n" "$TMP/mk-$n" f32 0.999999 1e-5
}

VB='"image_size": 64, "patch_size": 16, "width": 64, "layers": 2'
TB='"context_length": 16, "vocab_size": 300, "width": 48, "heads": 3, "layers": 2'
conf base F32 f32 0.999999 1e-5 \
	"{\"model_cfg\": {\"embed_dim\": 24, \"vision_cfg\": {$VB, \"head_width\": 32}, \"text_cfg\": {$TB}}}"
conf quickgelu-ls-ratio F32 f32 0.999999 1e-5 \
	"{\"model_cfg\": {\"embed_dim\": 24, \"quick_gelu\": true, \"vision_cfg\": {$VB, \"head_width\": 16, \"mlp_ratio\": 2.6667, \"ls_init_value\": 0.1}, \"text_cfg\": {$TB, \"mlp_ratio\": 3.5, \"ls_init_value\": 0.1}}}"
conf siglip-like-f16 F16 f32 0.999999 1e-5 \
	"{\"model_cfg\": {\"embed_dim\": 24, \"custom_text\": true, \"init_logit_bias\": -10, \"vision_cfg\": {$VB, \"head_width\": 16, \"no_ln_pre\": true, \"pool_type\": \"avg\", \"final_ln_after_pool\": true, \"act_kwargs\": {\"approximate\": \"tanh\"}, \"norm_kwargs\": {\"eps\": 1e-6}}, \"text_cfg\": {$TB, \"no_causal_mask\": true, \"proj_bias\": true, \"pool_type\": \"last\", \"act_kwargs\": {\"approximate\": \"tanh\"}, \"norm_kwargs\": {\"eps\": 1e-6}}}, \"preprocess_cfg\": {\"mean\": [0.5, 0.5, 0.5], \"std\": [0.5, 0.5, 0.5], \"resize_mode\": \"squash\", \"interpolation\": \"bilinear\"}}"
conf avg-lnfirst-eos-bf16 BF16 f32 0.999999 1e-5 \
	"{\"model_cfg\": {\"embed_dim\": 24, \"vision_cfg\": {$VB, \"head_width\": 32, \"pool_type\": \"avg\"}, \"text_cfg\": {$TB, \"pool_type\": \"eos\", \"eos_id\": 3}}}" eos
conf first-pool-bidir F32 f32 0.999999 1e-5 \
	"{\"model_cfg\": {\"embed_dim\": 24, \"vision_cfg\": {$VB, \"head_width\": 64, \"patch_size\": 32}, \"text_cfg\": {$TB, \"pool_type\": \"first\", \"no_causal_mask\": true}}}"
conf first-pool-causal F32 f32 0.999999 1e-5 \
	"{\"model_cfg\": {\"embed_dim\": 24, \"vision_cfg\": {$VB, \"head_width\": 32}, \"text_cfg\": {$TB, \"pool_type\": \"first\"}}}"
conf bf16-compute F32 bf16 0.999 0.05 \
	"{\"model_cfg\": {\"embed_dim\": 24, \"vision_cfg\": {$VB, \"head_width\": 32}, \"text_cfg\": {$TB}}}"

# models in the layout clipsort-mkmodel writes (OpenCLIP's), every weight dtype
SMALL="--set vision_cfg.layers=2 --set text_cfg.layers=2 --set vision_cfg.image_size=64 --set text_cfg.vocab_size=1000"
# shellcheck disable=SC2086
mkconf tiny --preset tiny $SMALL
# shellcheck disable=SC2086
mkconf tiny-quickgelu-f16 --preset tiny --dtype f16 --set quick_gelu=true $SMALL
# shellcheck disable=SC2086
mkconf siglip-ls-bf16 --preset siglip-B-16 --dtype bf16 $SMALL --set vision_cfg.width=64 \
	--set vision_cfg.head_width=32 --set text_cfg.width=64 --set text_cfg.heads=2 --set embed_dim=32 \
	--set vision_cfg.ls_init_value=0.1 --set text_cfg.ls_init_value=0.1
# shellcheck disable=SC2086
mkconf bigG-shape --preset ViT-bigG-14 $SMALL --set vision_cfg.width=208 --set vision_cfg.image_size=56 \
	--set text_cfg.width=64 --set text_cfg.heads=4 --set embed_dim=32

# info reflects the config: SigLIP bias, preprocess_cfg
if [ -d "$TMP/m-siglip-like-f16" ]; then
	run "$ENG" info "$TMP/m-siglip-like-f16"
	if grep -qx 'has_logit_bias 1' "$TMP/out" && grep -qx 'resize_mode squash' "$TMP/out" &&
	   grep -qx 'interpolation bilinear' "$TMP/out" && grep -qx 'mean 0.5 0.5 0.5' "$TMP/out" &&
	   grep -Eq '^logit_bias -(9|10|11)\.' "$TMP/out"; then ok "info: logit_bias and preprocess_cfg"
	else not_ok "info: logit_bias and preprocess_cfg" "$(cat "$TMP/out" "$TMP/err")"; fi
fi

# Causal text: ids after the pooled (EOT) position cannot change the output; with a
# bidirectional text tower they must.
tail_check() { # NAME MODEL WANT(same|differs)
	d=$TMP/m-$2
	[ -d "$d" ] || { skip "$1" "model $2 not built"; return; }
	"$PY" "$TMP/ref.py" text "$d" 21 4 "$TMP/a.i64" "$TMP/ra.f32" clip &&
	"$PY" "$TMP/ref.py" text "$d" 21 4 "$TMP/b.i64" "$TMP/rb.f32" tail &&
	"$ENG" text "$d" f32 4 "$TMP/a.i64" "$TMP/ga.f32" && "$ENG" text "$d" f32 4 "$TMP/b.i64" "$TMP/gb.f32"
	if cmp -s "$TMP/a.i64" "$TMP/b.i64"; then not_ok "$1" "inputs do not differ"; return; fi
	if cmp -s "$TMP/ga.f32" "$TMP/gb.f32"; then same=same; else same=differs; fi
	if [ "$same" = "$3" ]; then ok "$1"; else not_ok "$1" "outputs $same, expected $3"; fi
}
if [ $have_numpy = 1 ]; then
	tail_check "causal: tokens after EOT do not change the output" base same
	tail_check "bidirectional: tokens after EOT change the output" siglip-like-f16 differs
fi

# Batch-size invariance on a generated model: rows computed alone equal the batch's.
if [ -d "$TMP/m-quickgelu-ls-ratio" ]; then
	d=$TMP/m-quickgelu-ls-ratio
	"$PY" "$TMP/ref.py" image "$d" 31 4 "$TMP/in4.f32" "$TMP/w4.f32"
	"$ENG" image "$d" f32 4 "$TMP/in4.f32" "$TMP/g4.f32"
	sz=$(( $(wc -c <"$TMP/in4.f32") / 4 ))
	rm -f "$TMP/g1all.f32"
	for i in 0 1 2 3; do
		dd if="$TMP/in4.f32" of="$TMP/in1.f32" bs=$sz skip=$i count=1 2>/dev/null
		"$ENG" image "$d" f32 1 "$TMP/in1.f32" "$TMP/g1.f32" && cat "$TMP/g1.f32" >>"$TMP/g1all.f32"
	done
	run "$PY" "$TMP/ref.py" compare "$TMP/g1all.f32" "$TMP/g4.f32" 24 0.9999999 1e-6
	expect "image batch of 4 == 4 batches of 1 ($(cat "$TMP/out"))" 0
fi

# ---- bad model directories: status (clip.h CS_E*) and a message naming the cause
need_fixture "bad model inputs" && {
	FM=$FIXTURE/model/tiny-vit-b32ish
	# setcfg SECTION KEY JSON_VALUE: set model_cfg[SECTION][KEY] (SECTION "-": model_cfg itself)
	setcfg() {
		"$PY" -c 'import json, sys
c = json.load(open(sys.argv[1])); m = c["model_cfg"]
(m if sys.argv[2] == "-" else m[sys.argv[2]])[sys.argv[3]] = json.loads(sys.argv[4])
json.dump(c, open(sys.argv[1], "w"), indent=1)' "$TMP/bad/open_clip_config.json" "$@"
	}
	mk() { rm -rf "$TMP/bad"; mkdir -p "$TMP/bad"; cp "$FM/open_clip_config.json" "$TMP/bad/"; ln -s "$FM/open_clip_model.safetensors" "$TMP/bad/"; }
	run "$ENG" load "$TMP/nonexistent"
	expect_err_grep "missing directory" 1 "^status -1: .*nonexistent: model directory not found"
	mk; rm "$TMP/bad/open_clip_model.safetensors"
	run "$ENG" load "$TMP/bad"
	expect_err_grep "missing safetensors" 1 "^status -1: .*open_clip_model.safetensors: No such file"
	mk; rm "$TMP/bad/open_clip_config.json"
	run "$ENG" load "$TMP/bad"
	expect_err_grep "missing config" 1 "^status -1: .*open_clip_config.json: No such file"
	mk; rm "$TMP/bad/open_clip_model.safetensors"; head -c 5000000 "$FM/open_clip_model.safetensors" >"$TMP/bad/open_clip_model.safetensors"
	run "$ENG" load "$TMP/bad"
	expect_err_grep "truncated safetensors" 1 "^status -2: .*tensor .* data ends at byte [0-9]+ of a [0-9]+-byte data section \(file truncated\?\)"
	mk; rm "$TMP/bad/open_clip_model.safetensors"; head -c 100 "$FM/open_clip_model.safetensors" >"$TMP/bad/open_clip_model.safetensors"
	run "$ENG" load "$TMP/bad"
	expect_err_grep "truncated header" 1 "^status -2: .*header length 6384 does not fit a 100-byte file"
	mk; rm "$TMP/bad/open_clip_model.safetensors"; printf 'PK\003\004garbage that is not safetensors at all' >"$TMP/bad/open_clip_model.safetensors"
	run "$ENG" load "$TMP/bad"
	expect_err_grep "header garbage" 1 "^status -2: .*does not fit"
	mk; rm "$TMP/bad/open_clip_model.safetensors"; { printf '\020\000\000\000\000\000\000\000'; printf '{"a": [1, 2,,]} '; } >"$TMP/bad/open_clip_model.safetensors"
	run "$ENG" load "$TMP/bad"
	expect_err_grep "header not JSON" 1 "^status -2: .*header is not valid JSON"
	mk; printf '{"model_cfg": {"embed_dim": 64,,' >"$TMP/bad/open_clip_config.json"
	run "$ENG" load "$TMP/bad"
	expect_err_grep "bad JSON config" 1 "^status -2: .*open_clip_config.json: line 1: invalid JSON"
	# config/weights disagreements: a tensor missing, a wrong shape, an unexpected tensor
	mk; sed 's/"layers": 2,/"layers": 3,/' "$FM/open_clip_config.json" >"$TMP/bad/open_clip_config.json"
	run "$ENG" load "$TMP/bad"
	expect_err_grep "tensor missing" 1 "^status -2: .*tensor visual.transformer.resblocks.2.ln_1.weight is missing"
	mk; sed 's/"width": 128,/"width": 256,/' "$FM/open_clip_config.json" >"$TMP/bad/open_clip_config.json"
	run "$ENG" load "$TMP/bad"
	expect_err_grep "wrong shape" 1 "^status -2: .*tensor visual.conv1.weight: expected shape \[256, 3, 32, 32\], found \[128, 3, 32, 32\]"
	mk; sed 's/"layers": 2,/"layers": 1,/' "$FM/open_clip_config.json" >"$TMP/bad/open_clip_config.json"
	run "$ENG" load "$TMP/bad"
	expect_err_grep "unexpected tensor" 1 "^status -2: .*unexpected tensor visual.transformer.resblocks.1"
	# options the engine cannot run are refused by name (CS_EUNSUPPORTED = -3)
	bad_opt() { # SECTION KEY JSON_VALUE REGEX
		mk; setcfg "$1" "$2" "$3"
		run "$ENG" load "$TMP/bad"
		expect_err_grep "refused: $1.$2 = $3" 1 "$4"
	}
	for kv in 'attentional_pool true' 'timm_model_name "vit_base_patch16_siglip_224"' \
	          'pos_embed_type "rope"' 'pool_type "none"' 'act_kwargs {"negative_slope":0.1}' \
	          'new_fancy_option 1' 'image_size [224,160]' 'norm_kwargs {"eps":1e-6,"bias":false}'; do
		bad_opt vision_cfg "${kv%% *}" "${kv#* }" "^status -3: .*model_cfg.vision_cfg\.${kv%% *}"
	done
	bad_opt vision_cfg layers '[3,4,6,3]' '^status -3: .*vision_cfg.layers: a list \(ModifiedResNet'
	for kv in 'hf_model_name "roberta-base"' 'embed_cls true' 'pool_type "mean"' 'qk_norm true' \
	          'proj_type "mlp"' 'act_kwargs {"approximate":"tanh","x":1}'; do
		bad_opt text_cfg "${kv%% *}" "${kv#* }" "^status -3: .*model_cfg.text_cfg\.${kv%% *}"
	done
	mk; setcfg text_cfg no_causal_mask true; setcfg text_cfg use_pad_mask true
	run "$ENG" load "$TMP/bad"
	expect_err_grep "refused: bidirectional text with use_pad_mask" 1 "^status -3: .*text_cfg.use_pad_mask"
	bad_opt - nonscalar_logit_scale true '^status -3: .*model_cfg.nonscalar_logit_scale'
	bad_opt - multimodal_cfg '{"width":512}' '^status -3: .*model_cfg.multimodal_cfg'
	bad_opt - embed_dim '"64"' '^status -2: .*model_cfg.embed_dim: expected an integer'
	bad_opt vision_cfg patch_size 30 '^status -3: .*image_size 224 is not a multiple of patch_size 30'
	bad_opt vision_cfg head_width 256 '^status -2: .*width 128 is not divisible into width/head_width = 0 heads'
	# options irrelevant at inference are accepted
	mk; setcfg vision_cfg patch_dropout 0.5; setcfg vision_cfg output_tokens true; setcfg text_cfg pad_id 1
	setcfg vision_cfg image_size '[224,224]'; setcfg text_cfg use_pad_mask true
	setcfg vision_cfg pos_embed_type '"sin_cos_2d"'
	run "$ENG" load "$TMP/bad"
	expect "accepted: patch_dropout, output_tokens, pad_id, (224, 224), use_pad_mask with causal mask, sin_cos_2d" 0
}

# ---- clipsort-fetch-model: offline it fails clearly and leaves nothing behind
FETCH=$SRC/bin/clipsort-fetch-model
if [ -x "$FETCH" ]; then
	XDG_CACHE_HOME=$TMP/cache CLIPSORT_FETCH_TIMEOUT=5 HF_ENDPOINT=http://127.0.0.1:9 run "$FETCH" laion/CLIP-ViT-B-32-laion2B-s34B-b79K
	expect_err_grep "fetch-model offline" 4 "clipsort-fetch-model: .*laion/CLIP-ViT-B-32-laion2B-s34B-b79K.*open_clip_config.json: download failed"
	if [ -z "$(ls -A "$TMP/cache/clipsort/models" 2>/dev/null)" ]; then ok "fetch-model offline leaves no partial model"
	else not_ok "fetch-model offline leaves no partial model" "$(ls -la "$TMP/cache/clipsort/models")"; fi
	run "$FETCH"
	expect_err_grep "fetch-model usage" 2 "^usage: clipsort-fetch-model"
	run "$FETCH" '../evil'
	expect_err_grep "fetch-model bad name" 2 "not a hub model name"
	XDG_CACHE_HOME=$TMP/cache run "$FETCH" -p laion/CLIP-ViT-B-32
	expect "fetch-model -p prints the directory" 0 - ""
	if [ "$(cat "$TMP/out")" = "$TMP/cache/clipsort/models/laion--CLIP-ViT-B-32" ]; then ok "fetch-model -p path"
	else not_ok "fetch-model -p path" "$(cat "$TMP/out")"; fi
else
	not_ok "clipsort-fetch-model" "$FETCH missing"
fi

# ---- cs_engine_tune_env: re-executes with OMP_WAIT_POLICY=PASSIVE unless the user chose
run env -u OMP_WAIT_POLICY "$ENG" tune
expect "tune_env: PASSIVE by re-exec when unset" 0 <(echo PASSIVE) ""
run env OMP_WAIT_POLICY=ACTIVE "$ENG" tune
expect "tune_env: the user's OMP_WAIT_POLICY is kept" 0 <(echo ACTIVE) ""
# ... and keeps freed tensor memory mapped for the next batch (B-16 at batch 8 faulted
# ~140,000 pages back in per batch with glibc's defaults, 8-10% of its time)
faults() { awk -v r="$2" '$2 == r":" { print $3 }' "$1"; }
env OMP_WAIT_POLICY=PASSIVE "$ENG" reuse >"$TMP/reuse" 2>&1
env OMP_WAIT_POLICY=PASSIVE "$ENG" reuse raw >"$TMP/reuse-raw" 2>&1
f0=$(faults "$TMP/reuse" 0) f1=$(faults "$TMP/reuse" 1) f2=$(faults "$TMP/reuse" 2) r1=$(faults "$TMP/reuse-raw" 1)
if [ -n "$f0" ] && [ "$f0" -gt 1000 ] && [ $((f1 + f2)) -lt $((f0 / 100)) ]; then
	ok "tune_env: memory freed by one batch is reused by the next without page faults ($f0, then $f1, $f2)"
else not_ok "tune_env: freed memory reused" "$(cat "$TMP/reuse")"; fi
if [ -n "$r1" ] && [ "$r1" -gt $((f0 / 2)) ]; then
	ok "without it, glibc's defaults fault the same blocks in again ($r1 faults in round 1)"
else not_ok "reuse raw shows the default behaviour" "$(cat "$TMP/reuse-raw")"; fi

# ... and the engine keeps its tensor buffers for the next batch even when they are
# larger than any glibc mmap threshold (ViT-L-14 at batch 8 faulted ~730,000 pages in
# per batch without it).  No mallopt here: the engine's own allocator alone.
if "$MK" --no-vocab --preset tiny --set vision_cfg.width=256 --set vision_cfg.patch_size=16 \
	--set vision_cfg.layers=2 --set text_cfg.layers=1 "$TMP/big-act" >/dev/null 2>"$TMP/err"; then
	"$ENG" faults "$TMP/big-act" >"$TMP/fa" 2>&1
	CLIPSORT_ENGINE_ALLOC=system "$ENG" faults "$TMP/big-act" >"$TMP/fa-sys" 2>&1
	a0=$(faults "$TMP/fa" 0) a2=$(faults "$TMP/fa" 2) s2=$(faults "$TMP/fa-sys" 2)
	if [ -n "$a2" ] && [ -n "$s2" ] && [ "$s2" -gt 1000 ] && [ "$a2" -lt $((s2 / 20)) ]; then
		ok "engine buffers reused: third batch $a2 page faults (first $a0; libtorch's allocator: $s2)"
	else not_ok "engine buffers reused" "$(cat "$TMP/fa" "$TMP/fa-sys")"; fi
else not_ok "model with large activations" "$(cat "$TMP/err")"; fi

# ---- the model-directory man page
if command -v mandoc >/dev/null 2>&1; then
	run mandoc -Tlint -Wwarning "$SRC/man/clipsort-models.7"
	expect "clipsort-models.7 is mandoc -Tlint clean" 0 - ""
else
	skip "clipsort-models.7 lint" "mandoc not installed"
fi

t_done
