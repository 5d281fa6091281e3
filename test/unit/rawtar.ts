// Tar entries written byte by byte, for spellings no tar library writes (names that are not UTF-8,
// headers that claim bodies, the star format): what hostile layers and exports may hold.

export function fixChecksum(b: Buffer): void {
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += b[i]!;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
}

/** One raw tar header (ustar unless `magic` says otherwise) and its body padded to blocks. */
export function rawEntry(o: { name: string | Buffer; type: string; body?: string; size?: number; magic?: string; prefix?: string; trailer?: string }): Buffer {
  const h = Buffer.alloc(512);
  if (typeof o.name === 'string') h.write(o.name, 0, 100, 'utf8');
  else o.name.copy(h, 0, 0, 100);
  h.write('0000644\0', 100, 'ascii');
  h.write('0000000\0', 108, 'ascii');
  h.write('0000000\0', 116, 'ascii');
  const body = Buffer.from(o.body ?? '');
  h.write(`${(o.size ?? body.length).toString(8).padStart(11, '0')}\0`, 124, 'ascii');
  h.write('00000000000\0', 136, 'ascii');
  if (o.type !== '\0') h.write(o.type, 156, 'latin1');
  h.write(o.magic ?? 'ustar\x0000', 257, 'latin1');
  if (o.prefix) h.write(o.prefix, 345, 155, 'utf8');
  if (o.trailer) h.write(o.trailer, 508, 'latin1');
  fixChecksum(h);
  return Buffer.concat([h, body, Buffer.alloc((512 - (body.length % 512)) % 512)]);
}

/** One pax record, its length counted in. */
export const paxBody = (k: string, v: string) => {
  // The length counts bytes, not characters.
  const rec = (n: number) => `${n} ${k}=${v}\n`;
  let n = Buffer.byteLength(rec(0));
  while (Buffer.byteLength(rec(n)) !== n) n = Buffer.byteLength(rec(n));
  return rec(n);
};

/** Entries and the two zero blocks that end a tar. */
export const rawTar = (...entries: Buffer[]) => Buffer.concat([...entries, Buffer.alloc(1024)]);
