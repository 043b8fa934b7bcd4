#!/usr/bin/env bash
# More English documentation text from Debian packages, the same way as ../shared/data/get-corpus.sh, for a
# larger study corpus (issue 17 allows it): one .txt per source into DIR (default ./corpus-more).
#   perl-doc           Perl 5.36 manual pages, POD sources                  (GPL-1+ or Artistic)
#   postgresql-doc-15  PostgreSQL 15 manual, HTML rendered to text          (PostgreSQL licence)
#   python-django-doc  Django 3.2 documentation, HTML rendered to text      (BSD-3-clause)
#   git-doc            Git manual pages and guides, AsciiDoc sources        (GPL-2)
# Needs apt-get (root) and Debian's archive. Usage: get-more-corpus.sh [DIR]
set -euo pipefail
out=$(realpath -m "${1:-corpus-more}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
cd "$work"
apt-get update -qq >/dev/null 2>&1 || true
apt-get download -qq perl-doc postgresql-doc-15 python-django-doc git-doc 2>/dev/null
for d in *.deb; do dpkg -x "$d" x; done
python3 - "$work/x" "$out" <<'PY'
import html, os, re, sys
src, out = sys.argv[1], sys.argv[2]
def clean(t):
    t = re.sub(r'[ \t]+', ' ', t)
    t = re.sub(r'\n\s*\n\s*\n+', '\n\n', t)
    return t.strip() + '\n'
def write(name, parts):
    with open(os.path.join(out, name + '.txt'), 'w', encoding='utf-8') as f:
        for p in parts:
            f.write(clean(p)); f.write('\n')
    print(name, os.path.getsize(os.path.join(out, name + '.txt')), 'bytes')
def walk(root, exts):
    for dp, _, fs in sorted(os.walk(root)):
        for fn in sorted(fs):
            if fn.endswith(exts): yield os.path.join(dp, fn)
def html_text(p, body_pattern=None):
    t = open(p, encoding='utf-8', errors='replace').read()
    if body_pattern:
        m = re.search(body_pattern, t, re.S)
        t = m.group(1) if m else t
    t = re.sub(r'<(script|style|head)[^>]*>.*?</\1>', ' ', t, flags=re.S)
    t = re.sub(r'<[^>]+>', '', t)
    return html.unescape(t)
# Perl: POD, markup lines (=head1, =item, ...) kept as text without the '=' command
parts = []
for p in walk(os.path.join(src, 'usr/share/perl'), ('.pod',)):
    t = open(p, encoding='utf-8', errors='replace').read()
    t = re.sub(r'^=(?:head\d|item|over|back|pod|cut|encoding|for|begin|end)\b ?', '', t, flags=re.M)
    t = re.sub(r'[A-Z]<([^<>]*)>', r'\1', t)
    parts.append(t)
write('perl-docs', parts)
parts = [html_text(p, r'<div id="docContent">(.*)</div>') for p in walk(os.path.join(src, 'usr/share/doc/postgresql-doc-15/html'), ('.html',))]
write('postgresql-docs', parts)
parts = [html_text(p, r'<div id="yui-main">(.*?)<div class="yui-b" id="sidebar">')
         for p in walk(os.path.join(src, 'usr/share/doc/python-django-doc/html'), ('.html',))
         if '/_' not in p and 'genindex' not in p and 'modindex' not in p]
write('django-docs', parts)
parts = [open(p, encoding='utf-8', errors='replace').read() for p in walk(os.path.join(src, 'usr/share/doc/git-doc'), ('.txt',))]
write('git-docs', parts)
PY
du -sh "$out"
