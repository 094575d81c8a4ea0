#!/bin/bash
# t-preproc — image decoding and OpenCLIP preprocessing (embed/preproc.c,
# embed/resample.c) through the test driver $TOBJ/preproc_dump.
#  1. the OpenCLIP fixture: uint8 pixels and float32 inputs, byte for byte;
#  2. modes the fixture does not cover, against real Pillow 9.4 (+ torchvision
#     0.14 when installed; else a transcription of its Resize/CenterCrop):
#     bilinear, squash, longest + fill, L, LA, P, 1-bit, CMYK JPEG, 16-bit
#     PNGs, animated GIF, EXIF-rotated JPEG, WebP, TIFF, upscaling;
#  3. hostile inputs, each with its exact message and exit status.
# san: yes
. "$(dirname "$0")/lib.sh"
: "${TOBJ:=$SRC/build/obj/tests}"
DUMP=$TOBJ/preproc_dump
PY=/usr/bin/python3
N=preproc_dump

[ -x "$DUMP" ] || { not_ok "driver" "$DUMP not built (make $DUMP)"; t_done; exit; }

# ---- 1. the OpenCLIP fixture ----
fixture_tests() {
	need_fixture "fixture pixels" || { skip "fixture inputs" "fixture absent"; return; }
	imgs=
	while read -r n; do imgs="$imgs $FIXTURE/images/$n"; done <"$FIXTURE/expected/image_names.txt"
	# shellcheck disable=SC2086
	run "$DUMP" -o rgb $imgs
	expect "fixture pixels: 5 images, every byte of image_pixels.u8" 0 "$FIXTURE/expected/image_pixels.u8" ""
	# shellcheck disable=SC2086
	run "$DUMP" -o f32 $imgs
	expect "fixture inputs: image_inputs.f32 bit for bit" 0 "$FIXTURE/expected/image_inputs.f32" ""
	# shellcheck disable=SC2086
	run "$DUMP" -o rgb -t 2 $imgs $imgs
	cat "$FIXTURE/expected/image_pixels.u8" "$FIXTURE/expected/image_pixels.u8" >"$TMP/px2"
	expect "fixture pixels on 2 threads" 0 "$TMP/px2" ""
}
fixture_tests

# ---- 2. against Pillow ----
pillow_tests() {
	if ! $PY -c 'import PIL, numpy' 2>/dev/null; then
		skip "Pillow comparisons" "$PY cannot import PIL and numpy (Debian: python3-pil python3-numpy)"
		return
	fi
	mkdir -p "$TMP/img" "$TMP/ref"
	# Writes test images to img/, and for each case in the list the reference
	# (rgb then f32) to ref/CASE.bin and a line "CASE FILE OPTIONS" to cases.
	if ! $PY - "$TMP" "${FIXTURE:-}" >"$TMP/py.out" 2>&1 <<'PYEOF'
import os, sys, io, numpy as np
from PIL import Image, ImageOps
tmp, fixture = sys.argv[1], sys.argv[2]
if not os.path.isfile(os.path.join(fixture, "manifest.json")):
    fixture = ""
try:
    import torch, torchvision.transforms as T, torchvision.transforms.functional as TF
    TV = True
except Exception:
    TV = False
print("reference: Pillow", Image.__version__, "torchvision" if TV else "(torchvision absent: transcription)")
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
FILT = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR}

def tv_resize(img, hw, interp):            # torchvision F.resize on PIL, [h, w]
    if TV:
        m = T.InterpolationMode.BILINEAR if interp == "bilinear" else T.InterpolationMode.BICUBIC
        return TF.resize(img, list(hw), m)
    return img.resize((hw[1], hw[0]), FILT[interp])

def shortest_size(img, s):                 # _compute_resized_output_size
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    nl = int(s * long / short)
    return (nl, s) if w <= h else (s, nl)  # (h, w)

def crop_or_pad(img, s, fill):             # open_clip center_crop_or_pad
    w, h = img.size
    if s > w or s > h:
        ltrb = [(s - w) // 2 if s > w else 0, (s - h) // 2 if s > h else 0,
                (s - w + 1) // 2 if s > w else 0, (s - h + 1) // 2 if s > h else 0]
        if TV:
            img = TF.pad(img, ltrb, fill=fill)
        else:
            img = ImageOps.expand(img, tuple(ltrb), fill=(fill,) * len(img.getbands()) if len(img.getbands()) > 1 else fill)
        w, h = img.size
        if w == s and h == s:
            return img
    top, left = int(round((h - s) / 2.0)), int(round((w - s) / 2.0))
    return img.crop((left, top, left + s, top + s))

def openclip(img, s=224, mode="shortest", interp="bicubic", fill=0):
    if mode == "longest":                  # ResizeKeepRatio(longest=1) + CenterCropOrPad
        h, w = img.size[::-1]
        rh, rw = h / s, w / s
        ratio = max(rh, rw) * 1.0 + min(rh, rw) * (1.0 - 1.0)
        img = tv_resize(img, [round(x * 1.0 / ratio) for x in (h, w)], interp)
        img = crop_or_pad(img, s, fill)
    elif mode == "squash":
        img = tv_resize(img, (s, s), interp)
    else:
        img = tv_resize(img, shortest_size(img, s), interp)
        img = T.CenterCrop(s)(img) if TV else crop_or_pad(img, s, 0)
    img = img.convert("RGB")
    rgb = np.asarray(img, dtype=np.uint8)
    if TV:
        x = T.Normalize(MEAN, STD)(T.ToTensor()(img)).numpy()
    else:
        x = (rgb.transpose(2, 0, 1).astype(np.float32) / np.float32(255))
        x = (x - np.array(MEAN, np.float32)[:, None, None]) / np.array(STD, np.float32)[:, None, None]
    return rgb.tobytes() + np.ascontiguousarray(x, dtype=np.float32).tobytes()

rng = np.random.default_rng(20261204)
def photo(w, h, bands=3):                  # smooth colour field + noise + edges
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    chans = []
    for c in range(bands):
        f = 127 + 90 * np.sin(x / (7 + 5 * c) + c) * np.cos(y / (11 + 3 * c)) + rng.normal(0, 18, (h, w))
        f[(x // 37 + y // 29) % 5 == c] = 255 * (c % 2)
        chans.append(np.clip(f, 0, 255))
    a = np.stack(chans, -1).astype(np.uint8)
    return a[:, :, 0] if bands == 1 else a

I = os.path.join(tmp, "img")
def save(name, im, **kw):
    p = os.path.join(I, name); im.save(p, **kw); return p

files = {}
files["rgb.jpg"] = save("rgb.jpg", Image.fromarray(photo(301, 233)), quality=90)
files["tall.png"] = save("tall.png", Image.fromarray(photo(157, 410)))
files["small.png"] = save("small.png", Image.fromarray(photo(61, 37)))
files["l.jpg"] = save("l.jpg", Image.fromarray(photo(260, 300, 1), "L"), quality=85)
files["l.png"] = save("l.png", Image.fromarray(photo(333, 250, 1), "L"))
la = Image.fromarray(np.dstack([photo(290, 240, 1), np.tile(np.linspace(0, 255, 290), (240, 1)).astype(np.uint8)]), "LA")
files["la.png"] = save("la.png", la)
rgba = Image.fromarray(np.dstack([photo(300, 260), (np.indices((260, 300))[1] * 255 // 299 * ((np.indices((260, 300))[0] // 20) % 3 > 0)).astype(np.uint8)]), "RGBA")
files["rgba.png"] = save("rgba.png", rgba)
p_img = Image.fromarray(photo(270, 230)).quantize(colors=50)
files["p.png"] = save("p.png", p_img)
files["p_trns.png"] = save("p_trns.png", p_img, transparency=3)
files["l_trns.png"] = save("l_trns.png", Image.fromarray(photo(230, 260, 1), "L"), transparency=128)
files["rgb_trns.png"] = save("rgb_trns.png", Image.fromarray(photo(260, 230)), transparency=(255, 0, 0))
files["bit1.png"] = save("bit1.png", Image.fromarray(photo(250, 241, 1) > 128).convert("1"))
cmyk = Image.fromarray(photo(280, 250, 3)).convert("CMYK")
files["cmyk.jpg"] = save("cmyk.jpg", cmyk, quality=92)
g16 = Image.fromarray((photo(260, 240, 1).astype(np.int32) * 7 // 10 + 20) * 1, "I")  # small values: no clipping
g16 = g16.point(lambda v: v)  # mode I, written as 16-bit grey PNG
files["gray16.png"] = save("gray16.png", g16)
# 16-bit RGB / RGBA PNGs: Pillow cannot write them; raw PNG by hand
import zlib, struct
def png16(name, arr, ct):
    h, w = arr.shape[:2]
    raw = b"".join(b"\0" + arr[y].astype(">u2").tobytes() for y in range(h))
    def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, ct, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    p = os.path.join(I, name); open(p, "wb").write(data); return p
a16 = (photo(250, 230).astype(np.uint16) * 257 + rng.integers(0, 256, (230, 250, 3)).astype(np.uint16))
files["rgb16.png"] = png16("rgb16.png", a16, 2)
alpha16 = (np.tile(np.linspace(0, 65535, 250), (230, 1))).astype(np.uint16)[:, :, None]
files["rgba16.png"] = png16("rgba16.png", np.concatenate([a16, alpha16], 2), 6)
files["la16.png"] = png16("la16.png", np.concatenate([a16[:, :, :1], alpha16], 2), 4)
files["progressive.jpg"] = save("progressive.jpg", Image.fromarray(photo(290, 260)), quality=88, progressive=True)
files["444.jpg"] = save("444.jpg", Image.fromarray(photo(250, 290)), quality=95, subsampling=0)
f1 = Image.fromarray(photo(240, 250)).quantize(colors=64)
f2 = Image.fromarray(photo(240, 250)[::-1]).quantize(colors=64)
files["anim.gif"] = save("anim.gif", f1, save_all=True, append_images=[f2], duration=100, loop=0)
files["trns.gif"] = save("trns.gif", p_img, transparency=5)
files["gray.gif"] = save("gray.gif", Image.fromarray(photo(250, 235, 1), "L"))
ex = Image.Exif(); ex[0x0112] = 6
files["exif6.jpg"] = save("exif6.jpg", Image.fromarray(photo(320, 240)), quality=90, exif=ex)
files["lossy.webp"] = save("lossy.webp", Image.fromarray(photo(300, 240)), quality=80)
files["alpha.webp"] = save("alpha.webp", rgba, lossless=True)
files["rgb.tif"] = save("rgb.tif", Image.fromarray(photo(260, 250)))
files["pages.tif"] = save("pages.tif", Image.fromarray(photo(250, 260)), save_all=True,
                          append_images=[Image.fromarray(photo(250, 260)[::-1])])
files["anim.webp"] = save("anim.webp", Image.fromarray(photo(260, 240)), save_all=True,
                          append_images=[Image.fromarray(photo(260, 240)[:, ::-1])], quality=85, duration=100)
files["p.tif"] = save("p.tif", p_img)
files["bit1.tif"] = save("bit1.tif", Image.fromarray(photo(250, 241, 1) > 128).convert("1"))
files["cmyk.tif"] = save("cmyk.tif", cmyk)
files["la.tif"] = save("la.tif", la)
files["rgba.tif"] = save("rgba.tif", rgba, compression="tiff_lzw")
files["exact224.png"] = save("exact224.png", Image.fromarray(photo(224, 300)))
files["wide.png"] = save("wide.png", Image.fromarray(photo(300, 224)))
if fixture:
    for n in ("photo_china.jpg", "edge_rgba_gradient.png"):
        files[n] = os.path.join(fixture, "images", n)

cases = [  # name, file, openclip kwargs
    ("bilinear", "rgb.jpg", dict(interp="bilinear")),
    ("squash", "rgb.jpg", dict(mode="squash")),
    ("squash-wide", "wide.png", dict(mode="squash")),
    ("longest-fill", "rgb.jpg", dict(mode="longest", fill=114)),
    ("longest-tall", "tall.png", dict(mode="longest", fill=7)),
    ("longest-rgba", "rgba.png", dict(mode="longest", fill=200)),
    ("longest-bilinear-256", "tall.png", dict(mode="longest", interp="bilinear", s=256)),
    ("upscale", "small.png", {}),
    ("upscale-longest", "small.png", dict(mode="longest", fill=33)),
    ("size-256", "tall.png", dict(s=256)),
    ("no-resize", "exact224.png", {}),
    ("grey-jpeg", "l.jpg", {}),
    ("grey-png", "l.png", {}),
    ("la", "la.png", {}),
    ("rgba", "rgba.png", {}),
    ("palette", "p.png", {}),
    ("palette-trns", "p_trns.png", {}),
    ("bilevel", "bit1.png", {}),
    ("grey-png-trns", "l_trns.png", {}),
    ("rgb-png-trns", "rgb_trns.png", dict(mode="longest", fill=10)),
    ("cmyk-jpeg", "cmyk.jpg", {}),
    ("cmyk-longest", "cmyk.jpg", dict(mode="longest", fill=60)),
    ("grey16-png", "gray16.png", {}),
    ("rgb16-png", "rgb16.png", {}),
    ("rgba16-png", "rgba16.png", {}),
    ("la16-png", "la16.png", {}),
    ("progressive-jpeg", "progressive.jpg", {}),
    ("jpeg-444", "444.jpg", dict(interp="bilinear")),
    ("animated-gif", "anim.gif", {}),
    ("grey-gif", "gray.gif", {}),
    ("gif-transparent", "trns.gif", {}),
    ("gif-longest-pad-index", "trns.gif", dict(mode="longest", fill=9)),
    ("palette-longest-pad-index", "p_trns.png", dict(mode="longest", fill=3)),
    ("palette-longest-pad-past-end", "p.png", dict(mode="longest", fill=200)),
    ("exif-rotated", "exif6.jpg", {}),
    ("webp", "lossy.webp", {}),
    ("webp-alpha", "alpha.webp", {}),
    ("tiff", "rgb.tif", {}),
    ("tiff-multipage", "pages.tif", {}),
    ("webp-animated", "anim.webp", {}),
    ("tiff-palette", "p.tif", {}),
    ("tiff-palette-longest-pad-index", "p.tif", dict(mode="longest", fill=4)),
    ("tiff-bilevel", "bit1.tif", {}),
    ("tiff-cmyk", "cmyk.tif", {}),
    ("tiff-la", "la.tif", {}),
    ("tiff-rgba-lzw", "rgba.tif", dict(mode="squash")),
]
if fixture:
    cases += [("china-longest", "photo_china.jpg", dict(mode="longest", fill=0)),
              ("rgba-bilinear", "edge_rgba_gradient.png", dict(interp="bilinear"))]
with open(os.path.join(tmp, "cases"), "w") as out:
    for name, f, kw in cases:
        ref = openclip(Image.open(files[f]), **kw)
        open(os.path.join(tmp, "ref", name + ".bin"), "wb").write(ref)
        opts = "-s %d -r %s -i %s -f %d" % (kw.get("s", 224), kw.get("mode", "shortest"), kw.get("interp", "bicubic"), kw.get("fill", 0))
        out.write("%s %s %s\n" % (name, files[f], opts))
# sanity: the generated files have the PIL modes the cases are about
modes = {n: Image.open(files[n]).mode for n in files}
want = {"l.jpg": "L", "la.png": "LA", "p.png": "P", "bit1.png": "1", "cmyk.jpg": "CMYK", "gray16.png": "I",
        "rgb16.png": "RGB", "rgba16.png": "RGBA", "la16.png": "RGBA", "p.tif": "P", "bit1.tif": "1", "cmyk.tif": "CMYK", "la.tif": "LA", "anim.gif": "P", "gray.gif": "L", "alpha.webp": "RGBA"}
bad = {n: (modes[n], m) for n, m in want.items() if modes[n] != m}
assert not bad, "generated images have unexpected modes: %r" % bad
assert all(Image.open(files[n]).n_frames == 2 for n in ("anim.gif", "pages.tif", "anim.webp"))
print("cases:", len(cases))
PYEOF
	then
		not_ok "Pillow reference generation" "$(tail -20 "$TMP/py.out")"
		return
	fi
	head -1 "$TMP/py.out"
	while read -r name file opts; do
		# shellcheck disable=SC2086
		run "$DUMP" -o both $opts "$file"
		expect "pillow: $name ($(basename "$file") $opts)" 0 "$TMP/ref/$name.bin" ""
	done <"$TMP/cases"

	# fast mode: a 3000x2000 JPEG decoded at 1/4 scale must stay close to exact
	$PY -c '
import numpy as np, sys
from PIL import Image
y, x = np.mgrid[0:2000, 0:3000].astype(np.float32)
a = np.stack([127 + 100*np.sin(x/60 + c)*np.cos(y/45) for c in range(3)], -1)
Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(sys.argv[1], quality=90)' "$TMP/big.jpg"
	run "$DUMP" -o rgb "$TMP/big.jpg"; cp "$TMP/out" "$TMP/exact.rgb"
	run "$DUMP" -o rgb -F "$TMP/big.jpg"; cp "$TMP/out" "$TMP/fast.rgb"
	if d=$($PY -c '
import numpy as np, sys
a = np.fromfile(sys.argv[1], np.uint8).astype(int); b = np.fromfile(sys.argv[2], np.uint8).astype(int)
assert a.size == b.size == 224*224*3, (a.size, b.size)
print("%.3f %d" % (np.abs(a - b).mean(), np.abs(a - b).max()))' "$TMP/exact.rgb" "$TMP/fast.rgb" 2>&1); then
		set -- $d
		echo "     fast vs exact on 3000x2000 JPEG: mean |diff| $1, max $2 (uint8 levels)"
		if awk "BEGIN { exit !($1 > 0 && $1 < 1.5) }"; then
			ok "fast mode: shrink-on-load used (differs) and close to exact (mean |diff| $1 < 1.5)"
		else
			not_ok "fast mode" "mean |diff| $1 outside (0, 1.5)"
		fi
	else
		not_ok "fast mode" "$d"
	fi
	# fast mode on a PNG (no shrink-on-load) is exact
	run "$DUMP" -o both -F "$TMP/img/tall.png"; cp "$TMP/out" "$TMP/fastpng"
	run "$DUMP" -o both "$TMP/img/tall.png"
	expect "fast mode on PNG equals exact" 0 "$TMP/fastpng" ""
}
pillow_tests

# ---- 3. hostile inputs ----
hostile_tests() {
	d=$TMP/bad; mkdir -p "$d"
	: >"$d/empty.jpg"
	printf '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>\n' >"$d/svg.jpg"
	printf '%%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%%%EOF\n' >"$d/pdf.png"
	head -c 4096 /dev/urandom >"$d/random.jpg"; printf 'XX' | dd of="$d/random.jpg" conv=notrunc 2>/dev/null
	printf 'MATLAB 5.0 MAT-file, Platform: GLNXA64, Created on: Fri Dec  4 2026' >"$d/mat.gif"
	head -c 120 /dev/zero >>"$d/mat.gif"
	# a vips .v header (magic 08f2a6b6), renamed
	printf '\x08\xf2\xa6\xb6\x10\x00\x00\x00\x10\x00\x00\x00\x03\x00\x00\x00' >"$d/vips.webp"
	head -c 64 /dev/zero >>"$d/vips.webp"
	mkdir "$d/dir.jpg"

	run "$DUMP" "$d/empty.jpg"
	expect "empty file" 3 - "$N: $d/empty.jpg: empty file"
	run "$DUMP" "$d/svg.jpg"
	expect "SVG named .jpg: rejected by type from the bytes" 3 - "$N: $d/svg.jpg: unsupported image type (svgload)"
	run "$DUMP" "$d/pdf.png"
	expect "PDF named .png" 3 - "$N: $d/pdf.png: unsupported image type (pdfload)"
	run "$DUMP" "$d/mat.gif"
	expect "MATLAB header named .gif" 3 - "$N: $d/mat.gif: not a recognised image format"
	run "$DUMP" "$d/vips.webp"
	expect "vips .v header named .webp (ImageMagick claims it; blocked)" 3 - "$N: $d/vips.webp: unsupported image type (magickload)"
	run "$DUMP" "$d/random.jpg"
	expect "random bytes" 3 - "$N: $d/random.jpg: not a recognised image format"
	run "$DUMP" "$d/missing.jpg"
	expect "missing file" 4 - "$N: $d/missing.jpg: cannot open: No such file or directory"
	run "$DUMP" "$d/dir.jpg"
	expect "directory" 4 - "$N: $d/dir.jpg: not a regular file"

	if [ -f "$FIXTURE/images/photo_fruits.jpg" ]; then
		src=$FIXTURE/images/photo_fruits.jpg
	else
		src=$TMP/img/rgb.jpg
	fi
	if [ -f "$src" ]; then
		sz=$(wc -c <"$src")
		head -c $((sz / 2)) "$src" >"$d/trunc.jpg"
		run "$DUMP" "$d/trunc.jpg"
		expect_err_grep "truncated JPEG: rejected, not grey-filled" 3 \
			"^$N: $d/trunc.jpg: truncated or corrupt JPEG data: .+"
		[ -s "$TMP/out" ] && not_ok "truncated JPEG wrote no pixels" "stdout has $(wc -c <"$TMP/out") bytes"
		head -c $((sz - 2)) "$src" >"$d/noeoi.jpg"
		run "$DUMP" "$d/noeoi.jpg"
		expect_err_grep "JPEG without its last marker" 3 "^$N: $d/noeoi.jpg: truncated or corrupt JPEG data: "
		# good file + bad file: the good one is still processed
		run "$DUMP" "$src" "$d/trunc.jpg"
		if [ "$status" = 3 ] && [ "$(wc -c <"$TMP/out")" = $((224 * 224 * 3)) ]; then
			ok "one bad image among good ones: the good one is kept, status 3"
		else
			not_ok "bad among good" "status $status, $(wc -c <"$TMP/out") bytes"
		fi
	else
		skip "truncated JPEG" "no source JPEG"
	fi
	if [ -f "$TMP/img/tall.png" ]; then
		sz=$(wc -c <"$TMP/img/tall.png")
		head -c $((sz * 2 / 3)) "$TMP/img/tall.png" >"$d/trunc.png"
		run "$DUMP" "$d/trunc.png"
		expect_err_grep "truncated PNG" 3 "^$N: $d/trunc.png: truncated or corrupt PNG data: .+"
	fi

	# pixel bomb: a valid PNG whose header claims 50000x50000 (2.5 Gpx)
	$PY -c '
import zlib, struct, sys
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
raw = zlib.compress(b"\0" * (50001 * 3) * 4)
sys.stdout.buffer.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 50000, 50000, 8, 2, 0, 0, 0))
    + chunk(b"IDAT", raw) + chunk(b"IEND", b""))' >"$d/bomb.png" 2>/dev/null || : >"$d/bomb.png"
	if [ -s "$d/bomb.png" ]; then
		if [ -n "${SAN:-}" ]; then
			run "$DUMP" "$d/bomb.png"
		else	# 7.5 GB if decoded; 400 MB of address space is plenty to reject it
			run bash -c 'ulimit -v 400000; exec "$0" "$1"' "$DUMP" "$d/bomb.png"
		fi
		expect "pixel bomb rejected from the header, nothing decoded" 3 - \
			"$N: $d/bomb.png: image too large: 50000x50000 is more than 100000000 pixels"
		run "$DUMP" -m 1000 "$FIXTURE/images/photo_fruits.jpg"
		[ -f "$FIXTURE/images/photo_fruits.jpg" ] &&
			expect "max_pixels is honoured" 3 - \
				"$N: $FIXTURE/images/photo_fruits.jpg: image too large: 512x480 is more than 1000 pixels"
	else
		skip "pixel bomb" "python3 missing"
	fi
}
hostile_tests

t_done
