/**
 * UTF-8 (RFC 3629), the one codec of the project: AMF0 strings in RTMP
 * commands and playlist bodies. Pure; runs in Node, njs 0.7.9 and QuickJS,
 * which is why it does not use TextDecoder.
 */

/**
 * The code point of the well-formed sequence at b[i] (RFC 3629 section 4:
 * no overlongs, no surrogates, nothing above U+10FFFF) and its length, or
 * length 0 when the bytes there are not one.
 */
function sequenceAt(b: Uint8Array, i: number, end: number): { cp: number; n: number } {
  const c = b[i];
  if (c < 0x80) return { cp: c, n: 1 };
  let n = 0;
  let cp = 0;
  let min = 0;
  if (c >= 0xc2 && c < 0xe0) {
    n = 2;
    cp = c & 0x1f;
    min = 0x80;
  } else if (c >= 0xe0 && c < 0xf0) {
    n = 3;
    cp = c & 0x0f;
    min = 0x800;
  } else if (c >= 0xf0 && c < 0xf5) {
    n = 4;
    cp = c & 0x07;
    min = 0x10000;
  } else {
    return { cp: 0, n: 0 };
  }
  if (i + n > end) return { cp: 0, n: 0 };
  for (let k = 1; k < n; k++) {
    if ((b[i + k] & 0xc0) !== 0x80) return { cp: 0, n: 0 };
    cp = (cp << 6) | (b[i + k] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000)) return { cp: 0, n: 0 };
  return { cp: cp, n: n };
}

/**
 * Decode b[start, end). Lenient (the default): a byte that starts no
 * well-formed sequence becomes U+FFFD. Strict: null instead. Code units are
 * joined 1024 at a time: njs refuses longer `apply` argument lists
 * ("argument list is too long" at 4096), and one concatenation per
 * character is slow on megabyte playlists.
 */
export function utf8Decode(b: Uint8Array, start: number, end: number, strict?: boolean): string | null {
  let out = '';
  let units: number[] = [];
  let i = start;
  while (i < end) {
    const c = b[i];
    if (c < 0x80) {
      // ASCII without a call or an object per byte: playlists are ASCII.
      units.push(c);
      i++;
    } else {
      const s = sequenceAt(b, i, end);
      let cp = s.cp;
      if (s.n === 0) {
        if (strict) return null;
        cp = 0xfffd;
      }
      i += s.n === 0 ? 1 : s.n;
      if (cp > 0xffff) units.push(0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + ((cp - 0x10000) & 0x3ff));
      else units.push(cp);
    }
    if (units.length >= 1024) {
      out += String.fromCharCode.apply(null, units);
      units = [];
    }
  }
  return out + String.fromCharCode.apply(null, units);
}

export function utf8Encode(s: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    let cp = s.charCodeAt(i);
    if (cp >= 0xd800 && cp < 0xdc00 && i + 1 < s.length) {
      const lo = s.charCodeAt(i + 1);
      if (lo >= 0xdc00 && lo < 0xe000) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        i++;
      }
    }
    if (cp < 0x80) out.push(cp);
    else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
    else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
    else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
  }
  return out;
}
