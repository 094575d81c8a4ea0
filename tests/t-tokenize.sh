#!/bin/bash
# t-tokenize: the C tokenizer (embed/bpe.h, driven through test_bpe --encode) against an
# independent reference: Python's own html.unescape, str.split, str.lower and
# bytes.decode(errors='replace'), OpenCLIP's pre-tokenizer pattern in the `regex` module
# (python3-regex; without it, an equivalent `re` pattern built from unicodedata), and a
# plain Python BPE, on hand-picked and 2,500 random strings (fixed seed), for
# the gzip vocabulary, the hub vocabulary and a vocabulary made by the trainer, and on
# every 31st Unicode code point in a letter/number context.
# san: yes
. "$(dirname "$0")/lib.sh"
: "${TOBJ:=$SRC/build/obj/tests}"
DRV=$TOBJ/test_bpe
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
M=$FIXTURE/model/tiny-vit-b32ish

cat >"$TMP/ref.py" <<'EOF'
import gzip, html, json, os, random, re, sys, unicodedata

def byte_chars():
    bs = [b for b in range(256) if 33 <= b <= 126 or 161 <= b <= 172 or 174 <= b <= 255]
    cs = bs[:]
    extra = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(bs, cs)}

B2C = byte_chars()

def ranges_class(pred):
    parts, c = [], 0
    while c < 0x110000:
        if pred(chr(c)):
            lo = c
            while c + 1 < 0x110000 and pred(chr(c + 1)):
                c += 1
            parts.append(re.escape(chr(lo)) + ('-' + re.escape(chr(c)) if c > lo else ''))
        c += 1
    return ''.join(parts)

is_l = lambda ch: unicodedata.category(ch)[0] == 'L'
is_n = lambda ch: unicodedata.category(ch)[0] == 'N'

def re_pattern():
    # The regex module's IGNORECASE, written out: the text is lower-cased first, so
    # the literals only gain U+017F for 's'; a lone \p{L} or \p{N} tests the character
    # itself, but the set [^\s\p{L}\p{N}] excludes a character when any case variant
    # is in it.
    def variants(ch):
        return [ch] + [m for m in (ch.upper(), ch.lower(), ch.title()) if len(m) == 1]
    L = ranges_class(is_l)
    N = ranges_class(is_n)
    P = ranges_class(lambda ch: not any(v.isspace() or is_l(v) or is_n(v) for v in variants(ch)))
    return re.compile(r"<[sſ]tart_of_text>|<end_of_text>|'[sſ]|'t|'re|'ve|'m|'ll|'d|[%s]+|[%s]|[%s]+" % (L, N, P))

try:   # OpenCLIP's own pattern and engine, when python3-regex is installed
    if os.environ.get('REF_ENGINE') == 're':
        raise ImportError('REF_ENGINE=re')
    import regex
    PAT = regex.compile(r"""<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
                        regex.IGNORECASE)
    ENGINE = 'regex'
except ImportError:
    PAT = re_pattern()
    ENGINE = 're'


class Ref:
    def __init__(self, kind, a, b=None):
        if kind == 'gz':
            lines = gzip.open(a).read().decode('utf-8').split('\n')[1:49152 - 256 - 2 + 1]
            merges = [tuple(l.split()) for l in lines]
            vocab = list(B2C.values())
            vocab += [v + '</w>' for v in vocab]
            vocab += [''.join(m) for m in merges] + ['<start_of_text>', '<end_of_text>']
            self.enc = {v: i for i, v in enumerate(vocab)}
            self.sot, self.eot = self.enc['<start_of_text>'], self.enc['<end_of_text>']
        else:
            self.enc = json.load(open(a, encoding='utf-8'))
            lines = open(b, encoding='utf-8').read().strip().split('\n')[1:]
            merges = [tuple(l.split()) for l in lines]
            self.sot, self.eot = self.enc['<|startoftext|>'], self.enc['<|endoftext|>']
        self.rank = {m: i for i, m in enumerate(merges)}

    def bpe(self, tok):
        word = list(tok[:-1]) + [tok[-1] + '</w>']
        while len(word) > 1:
            pairs = [(self.rank.get(p, 1 << 60), p) for p in zip(word, word[1:])]
            r, best = min(pairs)
            if r == 1 << 60:
                break
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            word = out
        return [self.enc[w] for w in word]

    def row(self, raw, ctx=77):
        text = raw.decode('utf-8', errors='replace')
        text = html.unescape(html.unescape(text)).strip()
        text = ' '.join(text.split()).lower()
        ids = [self.sot]
        for piece in PAT.findall(text):
            if piece == '<start_of_text>':
                ids.append(self.sot)
            elif piece == '<end_of_text>':
                ids.append(self.eot)
            else:
                ids += self.bpe(''.join(B2C[b] for b in piece.encode('utf-8')))
        ids.append(self.eot)
        if len(ids) > ctx:
            ids = ids[:ctx]
            ids[-1] = self.eot
        return ids

def records(seed, n):
    fixed = [
        "a product in packaging", "", "   ", "It's 'S 'ſ x'll'd're've'm't", "1234 ½ Ⅻ ٣",
        "café crème &amp; &eacute;t&eacute; &notit; &#x1F4E6; &#128230; &#0; &#x80; &#13;",
        "&amp;amp;lt;b&amp;gt; &lt3 &LT &ampx &#99999999999;", "İSTANBUL ΟΔΟΣ ΣΑΣ Σ'", "ẞ straße ǅ",
        "<start_of_text>x<end_of_text> <START_OF_TEXT> <ſtart_of_text> <|endoftext|>",
        "日本語、中文！한국어 العربية", "👩‍👩‍👧 🇩🇪 👍🏽 📦", "e\u0301 \u0345 a\u0345b .\u0345. \u200b \u2028 \x1c \x85 \xa0 \u3000",
        "snake_case C++ $100 http://x.y/?a=b&c=d#e", "tab\tnew\nline\r\nvt\x0bff\x0c",
    ]
    out = [s.encode('utf-8') for s in fixed]
    out += [b"bad \xff\xfe \xc3( \xe2\x82 \xed\xa0\x80 \xf4\x90\x80\x80 \xc0\xaf \xf0\x9f\x98"]
    rnd = random.Random(seed)
    assigned = lambda c: unicodedata.category(chr(c)) != 'Cn' and not 0xD800 <= c <= 0xDFFF
    pool = list("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789      '''&&&;;##xX<>|_!?.,-:/\"\\()[]{}@$%^*+=~`")
    pool += ['ſ', '\u0345', 'İ', 'Σ', 'ς', 'ß', 'é', 'É', 'ñ', 'Ω', 'ǅ', '\u0301', '\u0307', '\u200b', '\u200d',
             '\t', '\n', '\r', '\x0b', '\x0c', '\x1c', '\x1f', '\x85', '\xa0', '\u2028', '\u3000', '\ufffd',
             '日', '本', '한', 'ا', '٣', '½', 'Ⅻ', '①', '²', '📦', '🎁', '👍', '🏽', '\U0001d401', '\x01', '\x7f']
    frags = ['amp;', 'amp', 'lt;', 'gt', 'not', 'notin;', 'nbsp;', 'eacute;', 'quot;', '#39;', '#x41;',
             '#X1F4E6;', '#0;', '#x80', '#1;', '#xD800;', 'AMP', 'copy', 'hellip;', "'s", "'ll",
             '<start_of_text>', '<end_of_text>', 'product', 'packaging', 'box']
    while len(out) < n:
        s = []
        for _ in range(rnd.randint(0, 40)):
            k = rnd.random()
            if k < 0.55:
                s.append(rnd.choice(pool))
            elif k < 0.8:
                s.append(rnd.choice(frags))
            elif k < 0.93:
                while True:
                    c = rnd.randint(0x80, 0x2FFFF)
                    if assigned(c):
                        break
                s.append(chr(c))
            else:
                s.append(rnd.choice(['\udcff', '\udcc3', '\udce2\udc82']))   # raw bad bytes
        out.append(''.join(s).encode('utf-8', errors='surrogateescape'))
    return out

if __name__ == '__main__':
    mode = sys.argv[1]
    if mode == 'engine':
        print(ENGINE)
    elif mode == 'gen':
        recs = records(int(sys.argv[2]), int(sys.argv[3]))
        sys.stdout.buffer.write(b''.join(r + b'\0' for r in recs))
    elif mode == 'sweep':
        # every STEP-th code point between "x" and "1": a letter joins the word, a
        # number stands alone, anything else is punctuation (or nothing, or space)
        step, cps = int(sys.argv[2]), []
        for c in range(1, 0x110000, step):
            # the `re` stand-in knows only this Python's Unicode version
            if not 0xD800 <= c <= 0xDFFF and (ENGINE == 'regex' or unicodedata.category(chr(c)) != 'Cn'):
                cps.append('x' + chr(c) + '1')
        recs = [' '.join(cps[i:i + 250]) for i in range(0, len(cps), 250)]
        sys.stdout.buffer.write(b''.join(r.encode('utf-8') + b'\0' for r in recs))
    else:
        ref = Ref(mode, *sys.argv[2:])
        data = sys.stdin.buffer.read().split(b'\0')[:-1]
        ctx = int(os.environ.get('REF_CTX', '77'))
        for r in data:
            print(' '.join(map(str, ref.row(r, ctx))))
EOF

# compare NAME DRIVER-VOCAB-ARGS -- REF-ARGS
compare() {
	name=$1; shift
	drv=(); while [ "$1" != -- ]; do drv+=("$1"); shift; done; shift
	"$PY" "$TMP/ref.py" "$@" <"$TMP/in" >"$TMP/want" 2>"$TMP/referr" || {
		not_ok "$name" "reference failed:" "$(tail -5 "$TMP/referr")"; return; }
	run -i "$TMP/in" "$DRV" --encode -0 "${drv[@]}"
	if [ "$status" != 0 ]; then
		not_ok "$name" "driver exit $status" "$(head -c 2000 "$TMP/err")"; return
	fi
	n=$(wc -l <"$TMP/want")
	bad=$(paste -d '\n' "$TMP/want" "$TMP/out" | awk 'NR % 2 { w = $0; next } $0 != w { n++ } END { print n + 0 }')
	if [ "$n" -lt 20 ] || [ "$n" != "$(tr -cd '\000' <"$TMP/in" | wc -c)" ] ||
	   [ "$(wc -l <"$TMP/out")" != "$n" ] || [ "$bad" != 0 ]; then
		first=$(paste -d '\n' "$TMP/want" "$TMP/out" | awk 'NR % 2 { w = $0; next } $0 != w { print (NR / 2) ": want " w; print "      got  " $0; if (++k == 3) exit }')
		not_ok "$name" "$bad of $n records differ" "$first"
		return
	fi
	ok "$name ($n records, Python $engine engine)"
}

if ! "$PY" -c 'import html, unicodedata, gzip' 2>/dev/null; then
	skip reference "no python3 to run the reference tokenizer"
else
	engine=$("$PY" "$TMP/ref.py" engine)
	"$PY" "$TMP/ref.py" gen 20241204 2500 >"$TMP/in"
	if need_fixture "gz vocabulary vs reference"; then
		compare "gz vocabulary vs reference" --gz "$M/bpe_simple_vocab_16e6.txt.gz" -- gz "$M/bpe_simple_vocab_16e6.txt.gz"
	fi
	if need_fixture "hub vocabulary vs reference"; then
		compare "hub vocabulary vs reference" --dir "$M" -- hf "$M/vocab.json" "$M/merges.txt"
	fi
	if need_fixture "code point sweep vs reference"; then
		"$PY" "$TMP/ref.py" sweep 31 >"$TMP/in"
		REF_CTX=2000 compare "code point sweep vs reference" -c 2000 --gz "$M/bpe_simple_vocab_16e6.txt.gz" -- gz "$M/bpe_simple_vocab_16e6.txt.gz"
		"$PY" "$TMP/ref.py" gen 20241204 2500 >"$TMP/in"
	fi
	# a vocabulary from the trainer: the reference reads the same vocab.json + merges.txt
	mkdir -p "$TMP/trained"
	run "$DRV" --train 400 "$TMP/trained"
	if expect "trainer writes a vocabulary" 0; then
		compare "trained vocabulary vs reference" --dir "$TMP/trained" -- hf "$TMP/trained/vocab.json" "$TMP/trained/merges.txt"
	fi
fi

# the driver's failure path: a missing vocabulary is named, exit status 5
run "$DRV" --encode --dir "$TMP/nowhere"
expect_err_grep "missing vocabulary is reported" 5 "nowhere: no tokenizer vocabulary"

t_done
