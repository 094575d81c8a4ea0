#!/bin/bash
# clipsort-mkmodel: the hub layout (byte-identical to the OpenCLIP fixture's config and
# safetensors header), every config option's keys and shapes, parameter counts of the
# presets against OpenCLIP's published model profile, dtypes, determinism, atomic and
# safe output, configuration errors.
# san: yes
. "$(dirname "$0")/lib.sh"
M=$BIN/clipsort-mkmodel
PY=${PYTHON:-python3}
FM=$FIXTURE/model/tiny-vit-b32ish
# a small model: 4x4 grid, vocabulary 1000 rows
SMALL="--set vision_cfg.image_size=64 --set vision_cfg.patch_size=16 --set vision_cfg.width=64
       --set text_cfg.vocab_size=1000 --set text_cfg.context_length=16"

# A safetensors reader written from the format's spec, independent of the C code.
cat >"$TMP/st.py" <<'EOF'
import json, math, struct, sys

SIZES = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "U8": 1}

def header(path):
    with open(path, "rb") as f:
        raw = f.read(8)
        n = struct.unpack("<Q", raw)[0]
        h = f.read(n)
    return n, h

def load(path):
    n, h = header(path)
    return n, json.loads(h.decode("utf-8"))

def check(path):
    """The format's rules, and the Python library's layout."""
    import os
    n, raw = header(path)
    assert n % 8 == 0, "header length %d not a multiple of 8" % n
    text = raw.decode("utf-8")
    assert text.startswith("{"), "header does not start with {"
    body = text.rstrip(" ")
    assert body.endswith("}") and len(text) - len(body) < 8, "bad padding"
    assert json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False) == body, "not compact JSON"
    d = json.loads(body)
    d.pop("__metadata__", None)
    names = list(d)
    order = sorted(names, key=lambda k: (-["F16", "BF16", "F32"].index(d[k]["dtype"]), k.encode()))
    assert names == order, "tensors not in dtype-then-name order"
    off = 0
    for k in names:
        t = d[k]
        assert set(t) == {"dtype", "shape", "data_offsets"}, k
        a, b = t["data_offsets"]
        assert a == off, "%s: offset %d, expected %d" % (k, a, off)
        assert b - a == math.prod(t["shape"]) * SIZES[t["dtype"]], "%s: size" % k
        off = b
    assert os.path.getsize(path) == 8 + n + off, "file size"

def values(path, name):
    n, d = load(path)
    t = d[name]
    a, b = t["data_offsets"]
    with open(path, "rb") as f:
        f.seek(8 + n + a)
        raw = f.read(b - a)
    c = len(raw) // SIZES[t["dtype"]]
    if t["dtype"] == "F32":
        return list(struct.unpack("<%df" % c, raw))
    if t["dtype"] == "F16":
        return list(struct.unpack("<%de" % c, raw))
    u = struct.unpack("<%dH" % c, raw)
    return [struct.unpack("<f", struct.pack("<I", x << 16))[0] for x in u]

def bf16(x):
    u = struct.unpack("<I", struct.pack("<f", x))[0]
    u = (u + 0x7fff + ((u >> 16) & 1)) >> 16
    return struct.unpack("<f", struct.pack("<I", u << 16))[0]

def f16(x):
    return struct.unpack("<e", struct.pack("<e", x))[0]

cmd, path = sys.argv[1], sys.argv[2]
if cmd == "check":
    check(path)
elif cmd == "list":  # name TAB dtype TAB shape, in file order (the -n format)
    print("name\tdtype\tshape")
    for k, t in load(path)[1].items():
        if k == "__metadata__":
            continue
        print("%s\t%s\t%s" % (k, t["dtype"], ",".join(map(str, t["shape"]))))
elif cmd == "stats":  # mean and std of one tensor
    v = values(path, sys.argv[3])
    m = sum(v) / len(v)
    print("%.6g %.6g" % (m, math.sqrt(sum((x - m) ** 2 for x in v) / len(v))))
elif cmd == "value":
    print(repr(values(path, sys.argv[3])))
elif cmd == "rounded":  # every tensor of argv[3] is argv[2]'s float32 values rounded
    ref = load(path)[1]
    n, d = load(sys.argv[3])
    assert list(ref) == list(d), "different tensors"
    for k in d:
        conv = f16 if d[k]["dtype"] == "F16" else bf16
        a, b = values(path, k), values(sys.argv[3], k)
        bad = [i for i in range(len(a)) if conv(a[i]) != b[i]]
        assert not bad, "%s[%d]: %r -> %r" % (k, bad[0], a[bad[0]], b[bad[0]])
elif cmd == "samehdr":  # identical header bytes
    assert header(path) == header(sys.argv[3]), "headers differ"
elif cmd == "tensor_eq":  # one tensor's bytes equal in two files
    assert values(path, sys.argv[4]) == values(sys.argv[3], sys.argv[4])
EOF
st() { "$PY" "$TMP/st.py" "$@"; }
fails() { ! "$@"; }
# keys MODEL_ARGS...: the -n listing, in $TMP/keys
keys() { "$M" -n "$@" x >"$TMP/keys" 2>"$TMP/keys.err"; }
has() { grep -qxF "$1" "$TMP/keys"; }
lacks() { ! grep -q "^$1	" "$TMP/keys"; }

test_fixture_layout() {
	need_fixture fixture_layout || return
	run "$M" --config "$FM/open_clip_config.json" --vocab-from "$FM" "$TMP/fx"
	expect "fixture config: writes" 0 || return
	check "fixture config: open_clip_config.json byte-identical" cmp "$FM/open_clip_config.json" "$TMP/fx/open_clip_config.json"
	check "fixture config: safetensors header byte-identical (names, dtypes, shapes, data order)" \
		st samehdr "$FM/open_clip_model.safetensors" "$TMP/fx/open_clip_model.safetensors"
	check "fixture config: same file size" test "$(stat -c %s "$FM/open_clip_model.safetensors")" = \
		"$(stat -c %s "$TMP/fx/open_clip_model.safetensors")"
	check "fixture config: vocabulary copied" cmp "$FM/vocab.json" "$TMP/fx/vocab.json"
	check "fixture config: merges copied" cmp "$FM/merges.txt" "$TMP/fx/merges.txt"
	check "fixture config: special_tokens_map.json as the hub's" cmp "$FM/special_tokens_map.json" "$TMP/fx/special_tokens_map.json"
	check "fixture config: tokenizer_config.json as the hub's but for its name" "$PY" -c '
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert a.pop("name_or_path") == "openai/clip-vit-large-patch14" and b.pop("name_or_path") == "fx", (a, b)
assert a == b' "$FM/tokenizer_config.json" "$TMP/fx/tokenizer_config.json"
	check "fixture config: model card says RANDOM WEIGHTS" grep -q "RANDOM WEIGHTS" "$TMP/fx/README.md"
	# the tiny preset is the fixture's model
	run "$M" --preset tiny --no-vocab "$TMP/tiny"
	check "preset tiny: config byte-identical to the fixture's" cmp "$FM/open_clip_config.json" "$TMP/tiny/open_clip_config.json"
	check "preset tiny: safetensors header byte-identical to the fixture's" \
		st samehdr "$FM/open_clip_model.safetensors" "$TMP/tiny/open_clip_model.safetensors"
}

test_format() {
	local a
	for a in "--dtype f32" "--dtype f16" "--dtype bf16" "--set custom_text=true --set text_cfg.proj_bias=true --dtype bf16"; do
		rm -rf "$TMP/fmt"
		# shellcheck disable=SC2086
		run "$M" --no-vocab $SMALL $a "$TMP/fmt"
		expect "format ($a): writes" 0 || continue
		check "format ($a): safetensors valid per spec, library layout" st check "$TMP/fmt/open_clip_model.safetensors"
		# shellcheck disable=SC2086
		"$M" -n --no-vocab $SMALL $a x >"$TMP/n.tsv"
		st list "$TMP/fmt/open_clip_model.safetensors" >"$TMP/l.tsv"
		check "format ($a): -n lists exactly what is written" cmp "$TMP/n.tsv" "$TMP/l.tsv"
		check "format ($a): every tensor has the dtype" test "$(cut -f 2 "$TMP/l.tsv" | sort -u | tr '\n' ' ')" = \
			"$(echo "${a##* }" | tr a-z A-Z) dtype "
	done
}

# model_profile.csv of OpenCLIP: parameter counts per tower (millions, 2 decimals)
test_presets() {
	local p want got
	run "$M" --list-presets
	expect "--list-presets" 0 || return
	for p in tiny ViT-B-32 ViT-B-16 ViT-L-14 ViT-H-14 ViT-bigG-14 siglip-B-16; do
		check "--list-presets names $p" grep -q "^$p	" "$TMP/out"
	done
	for want in "ViT-B-32 151277313 87.85 63.43" "ViT-B-16 149620737 86.19 63.43" \
	    "ViT-L-14 427616513 303.97 123.65" "ViT-H-14 - 632.08 354.03" "ViT-bigG-14 - 1844.91 694.66" \
	    "siglip-B-16 - - 110.27"; do
		set -- $want
		"$M" -n --preset "$1" x >"$TMP/p.tsv"
		got=$(awk -F'\t' -v t="$2" -v v="$3" -v x="$4" 'NR > 1 { n = 1; k = split($3, a, ","); for (i = 1; i <= k; i++) n *= a[i];
			if ($1 ~ /^visual\./) vis += n; else txt += n }
			END { printf "%s %s %s", (t == "-" ? "-" : sprintf("%.0f", vis + txt)),
			      (v == "-" ? "-" : sprintf("%.2f", vis / 1e6)), sprintf("%.2f", txt / 1e6) }' "$TMP/p.tsv")
		if [ "$got" = "$2 $3 $4" ]; then ok "preset $1: parameters as OpenCLIP's model profile ($2 $3 $4)"
		else not_ok "preset $1: parameters" "want $2 $3 $4" "got  $got"; fi
	done
	keys --preset ViT-bigG-14
	check "ViT-bigG-14: mlp int(1664 * 4.9231) = 8192" has "visual.transformer.resblocks.47.mlp.c_fc.weight	F32	8192,1664"
	check "ViT-bigG-14: 14-pixel patches, 16x16 grid" has "visual.positional_embedding	F32	257,1664"
	keys --preset siglip-B-16
	check "siglip-B-16: text under text., biased projection" has "text.text_projection.weight	F32	768,768"
	check "siglip-B-16: logit_bias" has "logit_bias	F32	"
	check "siglip-B-16: no ln_pre" lacks "visual.ln_pre.weight"
	check "siglip-B-16: 64 text positions" has "text.positional_embedding	F32	64,768"
}

test_options() {
	keys $SMALL
	check "default: causal text at top level" has "token_embedding.weight	F32	1000,32"
	check "default: text positions" has "positional_embedding	F32	16,32"
	check "default: ln_pre" has "visual.ln_pre.weight	F32	64"
	check "default: conv1 without bias" has "visual.conv1.weight	F32	64,3,16,16"
	check "default: no conv1 bias" lacks "visual.conv1.bias"
	check "default: class token + 4x4 grid" has "visual.positional_embedding	F32	17,64"
	check "default: visual.proj [width, embed_dim]" has "visual.proj	F32	64,64"
	check "default: text_projection [width, embed_dim]" has "text_projection	F32	32,64"
	check "default: scalar logit_scale" has "logit_scale	F32	"
	check "default: no logit_bias" lacks "logit_bias"
	check "default: attn_mask is not persistent" lacks "attn_mask"
	check "default: no LayerScale" lacks "visual.transformer.resblocks.0.ls_1.gamma"
	check "default: MLP 4x" has "visual.transformer.resblocks.1.mlp.c_fc.weight	F32	256,64"
	check "default: fused qkv" has "transformer.resblocks.0.attn.in_proj_weight	F32	96,32"
	cp "$TMP/keys" "$TMP/keys.default"

	keys $SMALL --set vision_cfg.no_ln_pre=true
	check "no_ln_pre drops visual.ln_pre" lacks "visual.ln_pre.weight"
	check "no_ln_pre keeps ln_post" has "visual.ln_post.weight	F32	64"
	keys $SMALL --set vision_cfg.ls_init_value=0.1 --set text_cfg.ls_init_value=1e-5
	check "ls_init_value: vision ls_1" has "visual.transformer.resblocks.1.ls_1.gamma	F32	64"
	check "ls_init_value: vision ls_2" has "visual.transformer.resblocks.0.ls_2.gamma	F32	64"
	check "ls_init_value: text ls_2" has "transformer.resblocks.1.ls_2.gamma	F32	32"
	keys $SMALL --set vision_cfg.layers=3 --set text_cfg.layers=1
	check "layers: vision 3" has "visual.transformer.resblocks.2.ln_1.bias	F32	64"
	check "layers: no fourth" lacks "visual.transformer.resblocks.3.ln_1.bias"
	check "layers: text 1" lacks "transformer.resblocks.1.ln_1.bias"
	keys $SMALL --set vision_cfg.mlp_ratio=2.5 --set text_cfg.mlp_ratio=0.29 --set text_cfg.width=100 --set text_cfg.heads=4
	check "mlp_ratio 2.5: int(64 * 2.5) = 160" has "visual.transformer.resblocks.0.mlp.c_fc.weight	F32	160,64"
	check "mlp_ratio 0.29: int(100 * 0.29) = 28 as Python truncates 28.999999999999996" \
		has "transformer.resblocks.0.mlp.c_proj.weight	F32	100,28"
	keys $SMALL --set vision_cfg.image_size=[64,96] --set 'vision_cfg.patch_size=[16,32]'
	check "image/patch pairs: grid 4x3" has "visual.positional_embedding	F32	13,64"
	check "image/patch pairs: conv kernel 16x32" has "visual.conv1.weight	F32	64,3,16,32"
	keys $SMALL --set vision_cfg.head_width=32 --set vision_cfg.pool_type=avg --set vision_cfg.final_ln_after_pool=true \
		--set quick_gelu=true --set text_cfg.pool_type=eos --set text_cfg.no_causal_mask=true \
		--set text_cfg.pad_id=3 --set 'text_cfg.norm_kwargs={"eps":1e-6}' --set vision_cfg.norm_kwargs.eps=1e-6
	check "graph-only options leave the state dict alone" cmp "$TMP/keys.default" "$TMP/keys"
	keys $SMALL --set vision_cfg.act_kwargs.approximate=tanh --set text_cfg.pool_type=last
	check "tanh GELU leaves the state dict alone" cmp "$TMP/keys.default" "$TMP/keys"
	keys $SMALL --set text_cfg.proj_bias=true
	check "proj_bias: Linear weight [embed_dim, width]" has "text_projection.weight	F32	64,32"
	check "proj_bias: Linear bias" has "text_projection.bias	F32	64"
	check "proj_bias: no bare text_projection" fails has "text_projection	F32	32,64"
	keys $SMALL --set text_cfg.proj_type=none
	check "proj_type none: no text projection" lacks "text_projection"
	keys $SMALL --set custom_text=true --set text_cfg.embed_cls=true
	check "custom_text: text tower under text." has "text.token_embedding.weight	F32	1000,32"
	check "custom_text: no top-level token_embedding" lacks "token_embedding.weight"
	check "custom_text: ln_final under text." has "text.ln_final.weight	F32	32"
	check "custom_text: projection under text." has "text.text_projection	F32	32,64"
	check "embed_cls: cls_emb" has "text.cls_emb	F32	32"
	check "embed_cls: one more position" has "text.positional_embedding	F32	17,32"
	check "custom_text: logit_scale at top level" has "logit_scale	F32	"
	check "custom_text: visual unchanged" test "$(grep -c '^visual\.' "$TMP/keys")" = "$(grep -c '^visual\.' "$TMP/keys.default")"
	keys $SMALL --set init_logit_bias=-10 --set nonscalar_logit_scale=true
	check "nonscalar logit_scale [1]" has "logit_scale	F32	1"
	check "init_logit_bias: logit_bias [1]" has "logit_bias	F32	1"
	keys $SMALL --set init_logit_bias=-10
	check "init_logit_bias: scalar logit_bias" has "logit_bias	F32	"
	keys $SMALL --set embed_dim=48 --set text_cfg.context_length=7 --set text_cfg.vocab_size=515
	check "embed_dim: visual.proj" has "visual.proj	F32	64,48"
	check "context_length: positions" has "positional_embedding	F32	7,32"
	check "vocab_size: token embedding rows" has "token_embedding.weight	F32	515,32"
	keys --preset tiny --set vision_cfg.width=96 --set vision_cfg.head_width=64
	check "head_width 64 on width 96: one head is fine" test -s "$TMP/keys"
	check "a model_cfg. prefix works too" keys $SMALL --set model_cfg.vision_cfg.layers=1
	check "preprocess_cfg can be set" keys $SMALL --set preprocess_cfg.resize_mode=squash --set 'preprocess_cfg.mean=[0.5,0.5,0.5]'
}

test_values() {
	rm -rf "$TMP/v"
	run "$M" --no-vocab $SMALL --set vision_cfg.ls_init_value=0.1 --set init_logit_bias=-10 "$TMP/v"
	expect "values: writes" 0 || return
	local f=$TMP/v/open_clip_model.safetensors
	check "values: logit_scale = float32(ln(1/0.07))" "$PY" -c '
import math, struct, sys; exec(open(sys.argv[1]).read().split("cmd, path")[0])
v = values(sys.argv[2], "logit_scale")
assert v == [struct.unpack("<f", struct.pack("<f", math.log(1 / 0.07)))[0]], v
assert values(sys.argv[2], "logit_bias") == [-10.0]' "$TMP/st.py" "$f"
	check "values: token embedding ~ N(0, 0.02)" "$PY" -c '
import sys; m, s = map(float, sys.argv[1].split()); assert abs(m) < 0.001 and abs(s - 0.02) < 0.001, (m, s)' \
		"$(st stats "$f" token_embedding.weight)"
	check "values: LayerNorm weight ~ 1 + N(0, 0.05)" "$PY" -c '
import sys; m, s = map(float, sys.argv[1].split()); assert abs(m - 1) < 0.03 and 0.02 < s < 0.08, (m, s)' \
		"$(st stats "$f" visual.transformer.resblocks.0.ln_1.weight)"
	check "values: LayerScale gamma ~ ls_init_value" "$PY" -c '
import sys; m, s = map(float, sys.argv[1].split()); assert abs(m - 0.1) < 0.005 and 0.002 < s < 0.02, (m, s)' \
		"$(st stats "$f" visual.transformer.resblocks.0.ls_1.gamma)"
	check "values: biases small but not zero" "$PY" -c '
import sys; m, s = map(float, sys.argv[1].split()); assert abs(m) < 0.01 and 0.01 < s < 0.03, (m, s)' \
		"$(st stats "$f" visual.transformer.resblocks.0.attn.in_proj_bias)"
	check "values: in_proj ~ N(0, width^-0.5)" "$PY" -c '
import sys; m, s = map(float, sys.argv[1].split()); assert abs(m) < 0.01 and abs(s - 0.125) < 0.005, (m, s)' \
		"$(st stats "$f" visual.transformer.resblocks.0.attn.in_proj_weight)"
}

test_dtypes() {
	local d
	rm -rf "$TMP/d32"
	"$M" --no-vocab $SMALL --seed 7 "$TMP/d32"
	for d in f16 bf16; do
		rm -rf "$TMP/d$d"
		run "$M" --no-vocab $SMALL --seed 7 --dtype $d "$TMP/d$d"
		expect "dtype $d: writes" 0 || continue
		check "dtype $d: every value is the f32 value rounded to nearest even" \
			st rounded "$TMP/d32/open_clip_model.safetensors" "$TMP/d$d/open_clip_model.safetensors"
		check "dtype $d: half the size of f32, data-wise" test \
			"$(stat -c %s "$TMP/d$d/open_clip_model.safetensors")" -lt "$(stat -c %s "$TMP/d32/open_clip_model.safetensors")"
	done
	run "$M" --no-vocab --dtype f64 "$TMP/bad"
	expect_err_grep "dtype f64 refused" 2 "--dtype: f64: expected f32, f16 or bf16"
}

test_determinism() {
	rm -rf "$TMP/s1" "$TMP/s1b" "$TMP/s2" "$TMP/s3"
	"$M" --no-vocab $SMALL --seed 1 "$TMP/s1"
	"$M" --no-vocab $SMALL --seed 1 "$TMP/s1b"
	"$M" --no-vocab $SMALL --seed 2 "$TMP/s2"
	"$M" --no-vocab $SMALL --seed 1 --set text_cfg.layers=3 "$TMP/s3"
	check "same seed: same bytes" cmp "$TMP/s1/open_clip_model.safetensors" "$TMP/s1b/open_clip_model.safetensors"
	check "different seed: different bytes" fails cmp -s "$TMP/s1/open_clip_model.safetensors" "$TMP/s2/open_clip_model.safetensors"
	check "different seed: same header" st samehdr "$TMP/s1/open_clip_model.safetensors" "$TMP/s2/open_clip_model.safetensors"
	check "a tensor's values do not depend on the other tensors" \
		st tensor_eq "$TMP/s1/open_clip_model.safetensors" "$TMP/s3/open_clip_model.safetensors" visual.proj
	check "different tensors get different streams" "$PY" -c '
import sys; exec(open(sys.argv[1]).read().split("cmd, path")[0])
a = values(sys.argv[2], "visual.ln_pre.bias"); b = values(sys.argv[2], "visual.ln_post.bias")
assert a != b' "$TMP/st.py" "$TMP/s1/open_clip_model.safetensors"
}

test_output_safety() {
	local o=$TMP/out1 sum
	rm -rf "$o"
	"$M" --no-vocab $SMALL "$o"
	sum=$(cat "$o"/* | md5sum)
	run "$M" --no-vocab $SMALL --seed 5 "$o"
	expect_err_grep "existing OUT_DIR refused without -f" 4 "out1: exists \(-f replaces a model directory\)"
	check "refused: the old model is untouched" test "$(cat "$o"/* | md5sum)" = "$sum"
	run "$M" -f --no-vocab $SMALL --seed 5 --set vision_cfg.layers=1 "$o"
	expect "-f replaces a model directory" 0
	check "-f: the new config is in place" grep -q '"layers": 1' "$o/open_clip_config.json"
	st list "$o/open_clip_model.safetensors" >"$TMP/l.tsv"
	check "-f: the new weights are in place" fails grep -q "^visual.transformer.resblocks.1." "$TMP/l.tsv"
	mkdir -p "$TMP/mine"
	echo "precious" >"$TMP/mine/notes.txt"
	run "$M" -f --no-vocab $SMALL "$TMP/mine"
	expect_err_grep "-f refuses a directory that is not a model" 4 "not a model directory"
	check "the user's file is intact" grep -qx precious "$TMP/mine/notes.txt"
	mkdir -p "$TMP/deep" && cp "$o/open_clip_config.json" "$TMP/deep/" && mkdir "$TMP/deep/sub"
	run "$M" -f --no-vocab $SMALL "$TMP/deep"
	expect_err_grep "-f refuses a model directory holding a subdirectory" 4 "holds sub, which is not a plain file"
	echo data >"$TMP/afile"
	run "$M" -f --no-vocab $SMALL "$TMP/afile"
	expect_err_grep "-f refuses a plain file" 4 "exists and is not a directory"
	check "the plain file is intact" grep -qx data "$TMP/afile"
	ln -s "$o" "$TMP/link"
	run "$M" -f --no-vocab $SMALL "$TMP/link"
	expect_err_grep "-f refuses a symbolic link" 4 "link: is a symbolic link; not replacing it"
	check "the link's target is intact" test -f "$o/open_clip_config.json"
	mkdir "$TMP/empty"
	run "$M" -f --no-vocab $SMALL "$TMP/empty"
	expect "-f fills an empty directory" 0
	# a failure after the temporary directory exists: merges.txt is a directory
	mkdir -p "$TMP/badvocab/merges.txt" && cp "$o/open_clip_config.json" "$TMP/badvocab/x"
	printf '{"a": 0, "<|startoftext|>": 1, "<|endoftext|>": 2}' >"$TMP/badvocab/vocab.json"
	run "$M" --vocab-from "$TMP/badvocab" $SMALL "$TMP/failed"
	expect_err_grep "a failure mid-way exits 4" 4 "merges.txt: read error"
	check "a failure mid-way leaves no OUT_DIR" test ! -e "$TMP/failed"
	check "no temporary directories are left behind" test -z "$(find "$TMP" -maxdepth 1 -name '*.tmp.*')"
	check "trailing slash on OUT_DIR" "$M" --no-vocab $SMALL "$TMP/slash/"
}

# injected I/O faults (tests/fault/failio.c): exit 4, no OUT_DIR, no temporary
# directory, and an old model replaced with -f stays intact
test_io_faults() {
	local F sum
	F=$(cd "${TOBJ:-$SRC/build/obj/tests}" 2>/dev/null && pwd)/failio.so
	if [ ! -f "$F" ]; then skip "I/O faults" "$F not built (make it: embed/cachetool.mk)"; return; fi
	export ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}verify_asan_link_order=0"
	run env LD_PRELOAD="$F" FAILIO_MATCH='*open_clip_model.safetensors' FAILIO_AFTER=100000 \
		"$M" --no-vocab $SMALL "$TMP/full"
	expect_err_grep "disk full while writing the weights" 4 "open_clip_model.safetensors: write error: No space left on device"
	check "disk full: no OUT_DIR" test ! -e "$TMP/full"
	run env LD_PRELOAD="$F" FAILIO_MATCH='*open_clip_model.safetensors' FAILIO_FSYNC=1 FAILIO_ERRNO=EIO \
		"$M" --no-vocab $SMALL "$TMP/full"
	expect_err_grep "fsync failure on the weights" 4 "open_clip_model.safetensors: write error: Input/output error"
	run env LD_PRELOAD="$F" FAILIO_MATCH='*/README.md' FAILIO_AFTER=0 "$M" --no-vocab $SMALL "$TMP/full"
	expect_err_grep "disk full on the last file" 4 "README.md: write error: No space left on device"
	check "last-file failure: no OUT_DIR" test ! -e "$TMP/full"
	"$M" --no-vocab $SMALL "$TMP/keep"
	sum=$(cat "$TMP/keep"/* | md5sum)
	run env LD_PRELOAD="$F" FAILIO_MATCH='*open_clip_config.json' FAILIO_AFTER=10 "$M" -f --no-vocab $SMALL --seed 9 "$TMP/keep"
	expect_err_grep "-f with a write failure" 4 "open_clip_config.json: write error"
	check "-f with a write failure: the old model is intact" test "$(cat "$TMP/keep"/* | md5sum)" = "$sum"
	check "I/O faults: no temporary directories left" test -z "$(find "$TMP" -maxdepth 1 -name '*.tmp.*')"
}

test_signal_cleanup() {
	local pid i
	"$M" --no-vocab --preset ViT-L-14 "$TMP/big" 2>"$TMP/sig.err" &
	pid=$!
	for i in $(seq 100); do
		[ -n "$(find "$TMP" -maxdepth 1 -name 'big.tmp.*')" ] && break
		sleep 0.05
	done
	sleep 0.2
	kill -TERM "$pid"
	wait "$pid"
	check "SIGTERM: killed by the signal" test $? -eq 143
	check "SIGTERM: no OUT_DIR" test ! -e "$TMP/big"
	check "SIGTERM: the temporary directory is removed" test -z "$(find "$TMP" -maxdepth 1 -name 'big.tmp.*')"
}

test_streaming() {
	local rss
	rm -rf "$TMP/stream"
	/usr/bin/time -f %M -o "$TMP/rss" "$M" --no-vocab --preset ViT-B-32 --dtype bf16 --set vision_cfg.layers=6 "$TMP/stream"
	rss=$(tail -n 1 "$TMP/rss")
	check "streaming: a $(($(stat -c %s "$TMP/stream/open_clip_model.safetensors") / 1000000)) MB file written in ${rss} kB of memory" \
		test "$rss" -lt 60000
	check "streaming: the big file is valid" st check "$TMP/stream/open_clip_model.safetensors"
	rm -rf "$TMP/stream"
}

test_config_json() {
	rm -rf "$TMP/cj"
	run "$M" --no-vocab $SMALL --set vision_cfg.mlp_ratio=4.9231 --set vision_cfg.ls_init_value=1e-06 \
		--set init_logit_scale=100.0 --set init_logit_bias=-0.0 --set vision_cfg.patch_dropout=0.1 \
		--set text_cfg.ls_init_value=1.5e-07 --set 'text_cfg.tokenizer_kwargs={"clean": "café ☕ 📦 \"q\"\\ \t", "n": [1, [], {}, null, 123456789.125, -0.0, 1e16, 1e-5, 0.0001, 12345678901234567.0, 5e-324]}' \
		"$TMP/cj"
	expect "config: writes" 0 || return
	check "config: byte-identical to Python's json.dump(indent=2) of it" "$PY" -c '
import json, sys
t = open(sys.argv[1], encoding="utf-8").read()
assert t == json.dumps(json.loads(t), indent=2), t' "$TMP/cj/open_clip_config.json"
	check "config: --set values land where they were set" "$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
m = d["model_cfg"]
assert m["vision_cfg"]["mlp_ratio"] == 4.9231 and m["text_cfg"]["tokenizer_kwargs"]["n"][6] == 1e16, m
assert m["text_cfg"]["tokenizer_kwargs"]["clean"] == "café ☕ 📦 \"q\"\\ \t"' "$TMP/cj/open_clip_config.json"
	check "config: a bare open_clip model config is accepted" "$PY" -c '
import json, sys; json.dump(json.load(open(sys.argv[1]))["model_cfg"], open(sys.argv[2], "w"))' \
		"$TMP/cj/open_clip_config.json" "$TMP/bare.json"
	check "config: --config with a bare config gets OpenAI preprocessing" "$M" --no-vocab --config "$TMP/bare.json" "$TMP/cj2"
	check "config: bare config kept as is" "$PY" -c '
import json, sys; a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
assert a["model_cfg"] == b["model_cfg"] and b["preprocess_cfg"]["mean"] == [0.48145466, 0.4578275, 0.40821073]' \
		"$TMP/cj/open_clip_config.json" "$TMP/cj2/open_clip_config.json"
}

test_errors() {
	local o=$TMP/errmodel  # (not $TMP/err: run() keeps stderr there)
	run "$M" --no-vocab --set vision_cfg.layer=2 "$o"
	expect "unknown key" 2 - "clipsort-mkmodel: --set vision_cfg.layer=2: unknown key 'layer' in model_cfg.vision_cfg (not a field of OpenCLIP's CLIPVisionCfg)"
	run "$M" --no-vocab --set visioncfg.layers=2 "$o"
	expect_err_grep "unknown top-level key" 2 "unknown key 'visioncfg' in model_cfg"
	run "$M" --no-vocab --set vision_cfg.layers "$o"
	expect_err_grep "--set without =" 2 "expected KEY=VALUE"
	run "$M" --no-vocab --set vision_cfg..layers=2 "$o"
	expect_err_grep "--set empty path component" 2 "bad key path"
	run "$M" --no-vocab --set 'vision_cfg.layers=[1' "$o"
	expect_err_grep "--set value not JSON" 2 "value is not JSON"
	run "$M" --no-vocab --set vision_cfg.layers=two "$o"
	expect "--set wrong type (bare word is a string)" 2 - "clipsort-mkmodel: model_cfg.vision_cfg.layers: expected an integer"
	run "$M" --no-vocab --set vision_cfg.layers.x=1 "$o"
	expect_err_grep "--set into a scalar" 2 "model_cfg.vision_cfg.layers is not an object"
	run "$M" --no-vocab --set vision_cfg.width=0 "$o"
	expect_err_grep "width 0" 2 "model_cfg.vision_cfg.width: 0 is out of range"
	run "$M" --no-vocab --set vision_cfg.head_width=256 "$o"
	expect_err_grep "head_width wider than width" 2 "head_width: 256 is wider than width 128"
	run "$M" --no-vocab --set text_cfg.heads=3 "$o"
	expect_err_grep "heads not dividing width" 2 "text_cfg.heads: width 32 is not divisible by 3 heads"
	run "$M" --no-vocab --set vision_cfg.patch_size=300 "$o"
	expect_err_grep "patch larger than image" 2 "patch_size: larger than image_size"
	run "$M" --no-vocab --set vision_cfg.pool_type=max "$o"
	expect_err_grep "vision pool_type" 2 "pool_type: expected one of: tok, avg, none"
	run "$M" --no-vocab --set text_cfg.pool_type=mean "$o"
	expect_err_grep "text pool_type" 2 "pool_type: expected one of: first, last, argmax, eos, none"
	run "$M" --no-vocab --set text_cfg.embed_cls=true "$o"
	expect_err_grep "embed_cls without custom_text" 2 "embed_cls: needs custom_text: true"
	run "$M" --no-vocab --set vision_cfg.timm_model_name=vit_base_patch16_siglip_224 "$o"
	expect_err_grep "timm tower refused" 2 "timm_model_name: not supported"
	run "$M" --no-vocab --set 'vision_cfg.layers=[3,4,6,3]' "$o"
	expect_err_grep "ResNet refused" 2 "ModifiedResNet"
	run "$M" --no-vocab --set vision_cfg.attentional_pool=true "$o"
	expect_err_grep "attentional pool refused" 2 "attentional_pool: not supported"
	run "$M" --no-vocab --set vision_cfg.pos_embed_type=sin_cos_2d "$o"
	expect_err_grep "sin-cos positions refused" 2 "pos_embed_type: expected one of: learnable"
	run "$M" --no-vocab --set text_cfg.hf_model_name=bert "$o"
	expect_err_grep "HF text tower refused" 2 "hf_model_name: not supported"
	run "$M" --no-vocab --set quick_gelu=true --set vision_cfg.act_kwargs.approximate=tanh "$o"
	expect_err_grep "QuickGELU with act_kwargs" 2 "QuickGELU .* takes no arguments"
	run "$M" --no-vocab --set vision_cfg.act_kwargs.approximate=erf "$o"
	expect_err_grep "bad GELU approximation" 2 'approximate must be "none" or "tanh"'
	run "$M" --no-vocab --set text_cfg.norm_kwargs.elementwise_affine=false "$o"
	expect_err_grep "unsupported norm_kwargs" 2 "unsupported argument 'elementwise_affine'"
	run "$M" --no-vocab --set preprocess_cfg.std=[1,0,1] "$o"
	expect_err_grep "std must be positive" 2 "preprocess_cfg.std: expected 3 positive numbers"
	run "$M" --no-vocab --set preprocess_cfg.resize=1 "$o"
	expect_err_grep "unknown preprocess key" 2 "unknown key 'resize' in preprocess_cfg"
	run "$M" --no-vocab --preset ViT-X "$o"
	expect_err_grep "unknown preset" 2 "--preset ViT-X: unknown preset"
	run "$M" --no-vocab --preset tiny --config x.json "$o"
	expect_err_grep "--preset with --config" 2 "exclude each other"
	run "$M" --no-vocab --seed -1 "$o"
	expect_err_grep "negative seed" 2 "seed"
	run "$M" --no-vocab
	expect_err_grep "no OUT_DIR: usage" 2 "^usage: clipsort-mkmodel"
	run "$M" --no-vocab --vocab-merges 10 "$o"
	expect_err_grep "vocabulary options exclude each other" 2 "exclude each other"
	printf '{"model_cfg": {"embed_dim": 64,\n  "vision_cfg": }}' >"$TMP/broken.json"
	run "$M" --no-vocab --config "$TMP/broken.json" "$o"
	expect_err_grep "--config not JSON: file, line, column" 3 "broken.json:2:17: invalid JSON"
	run "$M" --no-vocab --config "$TMP/nonexistent.json" "$o"
	expect_err_grep "--config missing" 4 "nonexistent.json: cannot open: No such file"
	printf '{"embed_dim": 64, "vision_cfg": {}}' >"$TMP/notext.json"
	run "$M" --no-vocab --config "$TMP/notext.json" "$o"
	expect_err_grep "--config without text_cfg" 2 "model_cfg.text_cfg: missing"
	check "no output after errors" test ! -e "$o"
	check "no temporary directories after errors" test -z "$(find "$TMP" -maxdepth 1 -name 'errmodel.tmp.*')"
}

test_vocab() {
	if need_fixture vocab_from; then
		run "$M" --vocab-from "$FM" $SMALL "$TMP/vf"
		expect_err_grep "vocab_size smaller than the vocabulary" 2 \
			"text_cfg.vocab_size 1000 is smaller than the vocabulary \(49408 tokens\)"
	fi
	if [ ! -f "$SRC/embed/bpe_train.c" ]; then
		run "$M" --preset tiny "$TMP/nogen"
		expect_err_grep "without the generator: a clear refusal" 2 "no vocabulary generator"
		skip "vocabulary generation" "embed/bpe_train.c (the tokenizer's generator) is not in the tree yet"
		return
	fi
	run "$M" --preset tiny --vocab-merges 300 "$TMP/gen"
	expect "generated vocabulary: writes" 0 || return
	check "generated vocabulary: 512 + 300 + 2 ids, 0..813, specials last" "$PY" -c '
import json, sys
v = json.load(open(sys.argv[1] + "/vocab.json"))
assert sorted(v.values()) == list(range(814)), len(v)
assert v["<|startoftext|>"] == 812 and v["<|endoftext|>"] == 813
m = open(sys.argv[1] + "/merges.txt", encoding="utf-8").read().splitlines()
assert m[0].startswith("#version") and len(m) == 301, len(m)' "$TMP/gen"
	check "generated vocabulary: tokenizer files" test -s "$TMP/gen/tokenizer_config.json" -a -s "$TMP/gen/special_tokens_map.json"
	run "$M" --preset tiny --vocab-merges 300 --set text_cfg.vocab_size=800 "$TMP/gen2"
	expect_err_grep "generated vocabulary larger than vocab_size" 2 "vocab_size 800 is smaller than the vocabulary \(814 tokens\)"
	run "$M" --preset tiny "$TMP/gen3"
	expect "default vocabulary" 0
}

# What mkmodel writes, the engine (clip.h, through its test helper) loads and computes
# as the engine's own float64 numpy reference does on the same weights (the reference
# is the one in t-engine.sh).  Options the engine refuses are refused by name.
test_engine_roundtrip() {
	local ENG=$SRC/build/obj/tests/test_engine NP=/usr/bin/python3 i=0 cfg D mode
	if [ -n "${SAN:-}" ]; then
		# the engine is not a sanitizer build; here the check is that this build of
		# mkmodel writes the very bytes the plain build (round-tripped above) writes
		if [ ! -x "$SRC/bin/clipsort-mkmodel" ]; then skip "sanitizer build = plain build" "no $SRC/bin/clipsort-mkmodel"; return; fi
		mkdir -p "$TMP/sanb" "$TMP/plainb"
		"$M" --no-vocab --seed 3 --dtype f16 $SMALL --set custom_text=true "$TMP/sanb/m"
		"$SRC/bin/clipsort-mkmodel" --no-vocab --seed 3 --dtype f16 $SMALL --set custom_text=true "$TMP/plainb/m"
		check "sanitizer build writes the plain build's bytes" diff -r "$TMP/sanb/m" "$TMP/plainb/m"
		return
	fi
	if [ ! -x "$ENG" ]; then skip "engine round trip" "$ENG not built"; return; fi
	if ! "$NP" -c "import numpy, scipy" 2>/dev/null; then skip "engine round trip" "numpy/scipy missing"; return; fi
	awk '/^cat >"\$TMP\/ref.py" <<.PYEOF.$/ { f = 1; next } /^PYEOF$/ { f = 0 } f' "$SRC/tests/t-engine.sh" >"$TMP/ref.py"
	if ! grep -q "def ref_image" "$TMP/ref.py"; then not_ok "engine round trip: reference from t-engine.sh"; return; fi
	for cfg in "--preset tiny" \
	    "--preset siglip-B-16 --dtype bf16 --set vision_cfg.layers=2 --set text_cfg.layers=2 --set vision_cfg.width=64 --set text_cfg.width=48 --set text_cfg.heads=3 --set vision_cfg.image_size=64 --set vision_cfg.ls_init_value=0.1 --set text_cfg.ls_init_value=0.1" \
	    "--preset tiny --dtype bf16 --set quick_gelu=true --set vision_cfg.mlp_ratio=2.6667 --set vision_cfg.head_width=32 --set text_cfg.pool_type=eos --set text_cfg.eos_id=5" \
	    "--preset tiny --dtype f16 --set custom_text=true --set text_cfg.proj_bias=true --set text_cfg.pool_type=first --set text_cfg.no_causal_mask=true --set vision_cfg.pool_type=avg --set vision_cfg.no_ln_pre=true"; do
		i=$((i + 1))
		# shellcheck disable=SC2086
		"$M" --no-vocab --seed $i $cfg "$TMP/rt$i" || { not_ok "engine round trip $i: mkmodel $cfg"; continue; }
		# the engine's reference also writes models, from its own reading of OpenCLIP
		"$NP" "$TMP/ref.py" make "$TMP/rtref$i" 1 F32 "$(cat "$TMP/rt$i/open_clip_config.json")" &&
		st list "$TMP/rtref$i/open_clip_model.safetensors" | cut -f 1,3 >"$TMP/rtref.keys" &&
		st list "$TMP/rt$i/open_clip_model.safetensors" | cut -f 1,3 >"$TMP/rt.keys"
		check "engine round trip $i: same tensor names and shapes as the engine's reference writer" \
			cmp "$TMP/rtref.keys" "$TMP/rt.keys"
		D=$("$ENG" info "$TMP/rt$i" 2>"$TMP/rt.err" | awk '$1 == "embed_dim" { print $2 }')
		if [ -z "$D" ]; then not_ok "engine round trip $i: load ($cfg)" "$(cat "$TMP/rt.err")"; continue; fi
		mode=clip; case $cfg in *eos*) mode=eos;; esac
		"$NP" "$TMP/ref.py" image "$TMP/rt$i" 11 3 "$TMP/in.f32" "$TMP/want.f32" &&
		run "$ENG" image "$TMP/rt$i" f32 3 "$TMP/in.f32" "$TMP/got.f32" &&
		run "$NP" "$TMP/ref.py" compare "$TMP/got.f32" "$TMP/want.f32" "$D" 0.999999 1e-5
		expect "engine round trip $i: image tower = numpy reference ($(cat "$TMP/out")): $cfg" 0
		"$NP" "$TMP/ref.py" text "$TMP/rt$i" 12 4 "$TMP/in.i64" "$TMP/want.f32" $mode &&
		run "$ENG" text "$TMP/rt$i" f32 4 "$TMP/in.i64" "$TMP/got.f32" &&
		run "$NP" "$TMP/ref.py" compare "$TMP/got.f32" "$TMP/want.f32" "$D" 0.999999 1e-5
		expect "engine round trip $i: text tower = numpy reference ($(cat "$TMP/out"))" 0
	done
	"$M" --no-vocab --set custom_text=true --set text_cfg.embed_cls=true "$TMP/rtcls"
	run "$ENG" load "$TMP/rtcls"
	expect_err_grep "engine refuses embed_cls by name" 1 "text_cfg.embed_cls: option not supported"
}

# the man page's EXAMPLES
test_man_examples() {
	run "$M" --preset siglip-B-16 --dtype bf16 --set vision_cfg.layers=2 --set text_cfg.layers=2 \
		--set vision_cfg.ls_init_value=0.1 --no-vocab "$TMP/siglip-small"
	expect "man example: small SigLIP-like bf16 model" 0
	check "man example: it is valid" st check "$TMP/siglip-small/open_clip_model.safetensors"
	"$M" -n --preset ViT-H-14 x | head >"$TMP/h.tsv"
	check "man example: -n | head" test "$(head -n 1 "$TMP/h.tsv")" = "name	dtype	shape"
}

test_fixture_layout
test_format
test_presets
test_options
test_values
test_dtypes
test_determinism
test_output_safety
test_io_faults
test_signal_cleanup
test_streaming
test_config_json
test_errors
test_vocab
test_man_examples
test_engine_roundtrip
t_done
