#!/usr/bin/env python3
"""Per-kernel fingerprints of CUDA cubins (ELF), for tools/gpu/kernel-identity.sh.

There is no cuobjdump/nvdisasm on the CPU machine, so instead of disassembling, this reads each entry
kernel's own sections out of the ELF and compares them as bytes, which is stricter than comparing
disassembly: the machine code (.text.K, every instruction's full encoding; calls and branches inside a
kernel are relative, so they do not depend on where the kernel sits), its register count and flags, its
helper functions, its relocations, its .nv.info.K attributes (parameter sizes and offsets, exit offsets,
barriers...), its records in the module-wide .nv.info (register count, frame and stack sizes), its call
graph edges, its shared and local memory sizes and its parameter bank (.nv.constant0.K).

Normalised, and only these, because they name a place in the module rather than anything the kernel does:
symbol and section indices (resolved to names), the counter in the compiler's names of internal helpers
($__internal_N_$...), and for a relocation into a module-wide section (e.g. .nv.constant4, .nv.global.init)
the target's offset within that section, replaced by the bytes it points at (same value, maybe elsewhere).
.debug_frame (unwind tables for debuggers) is not compared.

  cubin_kernels.py A.cubin [B.cubin ...]      one line per kernel: NAME SHA256 (over all files given)
  cubin_kernels.py --detail NAME A.cubin ...  the record of one kernel, for a diff
"""
import hashlib
import re
import struct
import sys

SHN_UNDEF = 0


class Elf:
    def __init__(self, path):
        self.path = path
        self.data = open(path, 'rb').read()
        d = self.data
        if d[:4] != b'\x7fELF' or d[4] != 2 or d[5] != 1:
            raise SystemExit(path + ': not a 64-bit little-endian ELF')
        shoff, = struct.unpack_from('<Q', d, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from('<HHH', d, 0x3a)
        self.sections = []
        for i in range(shnum):
            (name, typ, flags, addr, off, size, link, info, align, entsize) = struct.unpack_from(
                '<IIQQQQIIQQ', d, shoff + i * shentsize)
            self.sections.append(dict(name_off=name, type=typ, flags=flags, offset=off, size=size, link=link,
                                      info=info, align=align, entsize=entsize, index=i))
        strtab = self.sections[shstrndx]
        for s in self.sections:
            s['name'] = self.cstr(strtab['offset'] + s['name_off'])
        self.by_name = {s['name']: s for s in self.sections}
        symtab = next(s for s in self.sections if s['type'] == 2)
        names = self.sections[symtab['link']]
        self.symbols = []
        for i in range(symtab['size'] // 24):
            name, info, other, shndx, value, size = struct.unpack_from('<IBBHQQ', d, symtab['offset'] + 24 * i)
            sym = dict(name=self.cstr(names['offset'] + name), type=info & 0xf, bind=info >> 4, other=other,
                       shndx=shndx, value=value, size=size)
            if sym['type'] == 3 and not sym['name']:         # a section symbol: named after its section
                sym['name'] = self.sections[shndx]['name']
            self.symbols.append(sym)

    def cstr(self, at):
        end = self.data.index(b'\0', at)
        return self.data[at:end].decode()

    def body(self, s):
        return b'' if s['type'] == 8 else self.data[s['offset']:s['offset'] + s['size']]   # 8: NOBITS

    def kernels(self):
        out = []
        for s in self.symbols:
            if s['type'] == 2 and s['bind'] == 1 and s['shndx'] != SHN_UNDEF \
                    and self.sections[s['shndx']]['name'] == '.text.' + s['name']:
                out.append(s['name'])
        return out


def norm(name):
    return re.sub(r'^\$__internal_\d+_\$', '$__internal_$', name)


def sym_desc(elf, index):
    s = elf.symbols[index]
    return norm(s['name'])


def section_of_symbol(elf, index):
    s = elf.symbols[index]
    return elf.sections[s['shndx']]['name'] if s['shndx'] != SHN_UNDEF and s['shndx'] < 0xff00 else None


def nv_info_records(elf, blob):
    """(format, attribute, payload) triples of an .nv.info section."""
    out, i = [], 0
    while i + 2 <= len(blob):
        fmt, attr = blob[i], blob[i + 1]
        i += 2
        if fmt == 0x04:                      # EIFMT_SVAL: u16 size, then the value
            size, = struct.unpack_from('<H', blob, i)
            i += 2
            out.append((fmt, attr, blob[i:i + size]))
            i += size
        elif fmt == 0x03:                    # EIFMT_HVAL: a u16 value
            out.append((fmt, attr, blob[i:i + 2]))
            i += 2
        elif fmt == 0x02:                    # EIFMT_BVAL: a byte and padding
            out.append((fmt, attr, blob[i:i + 2]))
            i += 2
        else:                                # EIFMT_NVAL: no value (padded to 2)
            out.append((fmt, attr, blob[i:i + 2]))
            i += 2
    return out


PARAM_CBANK = 0x0a                           # payload: u32 symbol of .nv.constant0.K, then offset and size


def record(elf, kernel):
    """Everything that belongs to one kernel, as text lines, indices resolved to names."""
    lines = []
    text = elf.by_name['.text.' + kernel]
    lines.append('text flags=%x regs=%d align=%d size=%d' % (text['flags'], text['info'] >> 24, text['align'], text['size']))
    lines.append('text sha256=' + hashlib.sha256(elf.body(text)).hexdigest())
    text_index = text['index']
    for i, s in enumerate(elf.symbols):
        if s['shndx'] == text_index and s['type'] != 3:
            lines.append('symbol %s type=%d bind=%d other=%x value=%x size=%d' % (norm(s['name']), s['type'], s['bind'],
                                                                                  s['other'], s['value'], s['size']))
    for rel_name, entry in (('.rel.text.' + kernel, 16), ('.rela.text.' + kernel, 24)):
        rel = elf.by_name.get(rel_name)
        if rel is None:
            continue
        blob = elf.body(rel)
        for j in range(0, len(blob), entry):
            off, info = struct.unpack_from('<QQ', blob, j)
            addend = struct.unpack_from('<q', blob, j + 16)[0] if entry == 24 else 0
            sym, typ = info >> 32, info & 0xffffffff
            target = section_of_symbol(elf, sym)
            desc = sym_desc(elf, sym)
            if target is not None and not target.endswith('.' + kernel) and not target.startswith('.text.'):
                # a module-wide section: which bytes it points at, not where they sit in this module
                ts = elf.by_name[target]
                at = elf.symbols[sym]['value'] + addend
                desc = '%s[%s]' % (target, elf.body(ts)[at:at + 16].hex())
                addend = 'pointed'
            lines.append('reloc off=%x type=%d -> %s %s' % (off, typ, desc, addend))
    for suffix in ('.nv.info.', '.nv.shared.', '.nv.local.', '.nv.constant0.', '.nv.constant2.', '.nv.shared.reserved.'):
        s = elf.by_name.get(suffix + kernel)
        if s is None:
            continue
        if suffix == '.nv.info.':
            for fmt, attr, payload in nv_info_records(elf, elf.body(s)):
                if attr == PARAM_CBANK and len(payload) >= 4:
                    sym, = struct.unpack_from('<I', payload, 0)
                    payload = sym_desc(elf, sym).encode() + b':' + payload[4:]
                lines.append('info %02x %02x %s' % (fmt, attr, payload.hex()))
        else:
            lines.append('%s size=%d flags=%x align=%d body=%s' % (suffix, s['size'], s['flags'], s['align'],
                                                                   hashlib.sha256(elf.body(s)).hexdigest()))
    glob = elf.by_name.get('.nv.info')
    if glob is not None:
        for fmt, attr, payload in nv_info_records(elf, elf.body(glob)):
            if fmt == 0x04 and len(payload) >= 4:
                sym, = struct.unpack_from('<I', payload, 0)
                if sym < len(elf.symbols) and elf.symbols[sym]['shndx'] == text_index:
                    lines.append('global-info %02x %s %s' % (attr, sym_desc(elf, sym), payload[4:].hex()))
    cg = elf.by_name.get('.nv.callgraph')
    if cg is not None:
        blob = elf.body(cg)
        for j in range(0, len(blob) - 7, 8):
            caller, callee = struct.unpack_from('<II', blob, j)
            if caller < len(elf.symbols) and elf.symbols[caller]['shndx'] == text_index:
                callee_name = sym_desc(elf, callee) if callee < len(elf.symbols) else '#%x' % callee
                lines.append('call %s -> %s' % (sym_desc(elf, caller), callee_name))
    return lines


def main(argv):
    if len(argv) >= 3 and argv[0] == '--detail':
        for path in argv[2:]:
            elf = Elf(path)
            if argv[1] in elf.kernels():
                print('\n'.join(record(elf, argv[1])))
        return
    seen = {}
    for path in argv:
        elf = Elf(path)
        for k in elf.kernels():
            if k in seen:
                raise SystemExit('kernel %s is in both %s and %s' % (k, seen[k][0], path))
            digest = hashlib.sha256('\n'.join(record(elf, k)).encode()).hexdigest()
            seen[k] = (path, digest)
    for k in sorted(seen):
        print(k, seen[k][1])


if __name__ == '__main__':
    main(sys.argv[1:])
