#!/usr/bin/env python3
"""mkdata.py DIR N [SEED] — test data for the labellers' tests and benchmark.

Writes DIR/img/NNN.jpg (N images: class "packaged" = a reddish box on grey,
"unpackaged" = a bluish disc on grey; every 5th image lives in DIR/vendor.zip
instead), DIR/classes.tsv, DIR/truth.tsv (key, path, class), and
DIR/vectors.tsv: the import format of coldstart_gen -i / clipsort-cache import
(text rows, then image rows keyed by the SHA-256 of the image bytes; vectors are
the class direction plus noise, so zero-shot is right most of the time)."""
import hashlib, os, random, subprocess, sys, zipfile

out, n = sys.argv[1], int(sys.argv[2])
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
rnd = random.Random(seed)
W, H, DIM = 160, 120, 16
os.makedirs(os.path.join(out, "img"), exist_ok=True)
classes = ["packaged", "unpackaged"]


def ppm(path, cls, i):
    px = bytearray([200, 200, 200] * (W * H))
    cx, cy = rnd.randint(40, W - 40), rnd.randint(30, H - 30)
    r = rnd.randint(15, 28)
    col = (rnd.randint(170, 255), rnd.randint(0, 80), rnd.randint(0, 80)) if cls == 0 else \
        (rnd.randint(0, 80), rnd.randint(0, 80), rnd.randint(170, 255))
    for y in range(H):
        for x in range(W):
            inside = (abs(x - cx) <= r and abs(y - cy) <= r) if cls == 0 else ((x - cx) ** 2 + (y - cy) ** 2 <= r * r)
            if inside:
                o = 3 * (y * W + x)
                px[o:o + 3] = bytes(col)
    # a few pixels of noise make every image's bytes unique
    for k in range(8):
        o = 3 * rnd.randrange(W * H)
        px[o] = (px[o] + i + k) % 256
    with open(path, "wb") as f:
        f.write(b"P6\n%d %d\n255\n" % (W, H))
        f.write(px)


truth = []
for i in range(n):
    cls = i % 2 if rnd.random() < 0.9 else rnd.randrange(2)
    ppm(os.path.join(out, "img", "%03d.ppm" % i), cls, i)
    truth.append(cls)
subprocess.run(["mogrify", "-format", "jpg", "-quality", "90", os.path.join(out, "img", "*.ppm")], check=True)
for i in range(n):
    os.unlink(os.path.join(out, "img", "%03d.ppm" % i))

dirs = []
for c in range(2):
    v = [rnd.gauss(0, 1) for _ in range(DIM)]
    s = sum(x * x for x in v) ** 0.5
    dirs.append([x / s for x in v])


def vec(c, noise):
    v = [d + rnd.gauss(0, noise) for d in dirs[c]]
    s = sum(x * x for x in v) ** 0.5
    return "\t".join("%.6f" % (x / s) for x in v)


rows, tr = [], ["key\tpath\tclass"]
z = zipfile.ZipFile(os.path.join(out, "vendor.zip"), "w")
for i in range(n):
    name = "img/%03d.jpg" % i
    data = open(os.path.join(out, name), "rb").read()
    key = hashlib.sha256(data).hexdigest()
    loc = name
    if i % 5 == 4:
        z.writestr("drop/%03d.jpg" % i, data)
        os.unlink(os.path.join(out, name))
        loc = "vendor.zip!drop/%03d.jpg" % i
    rows.append((key, loc, truth[i]))
    tr.append("%s\t%s\t%s" % (key, loc, classes[truth[i]]))
z.close()
rows.sort()
with open(os.path.join(out, "vectors.tsv"), "w") as f:
    for c in range(2):
        for p in ("a photo of a %s item", "a product that is %s"):
            f.write("text\t%s\t%s\t%s\n" % (classes[c], p % classes[c], vec(c, 0.05)))
    for key, loc, c in rows:
        f.write("image\t%s\t%s\t%s\n" % (key, loc, vec(c, 0.6)))
with open(os.path.join(out, "classes.tsv"), "w") as f:
    f.write("class\tprompt\n")
    for c in classes:
        f.write("%s\ta photo of a %s item\n" % (c, c))
with open(os.path.join(out, "truth.tsv"), "w") as f:
    f.write("\n".join(tr) + "\n")
