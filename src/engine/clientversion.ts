// The docker client's version, remembered per client binary. It chooses the
// builder (builder.ts), and asking for it meant starting the client
// (`docker version`, 70 to 90 ms) on every command that builds or asks the
// engine more than the quick path does; the server's half of the answer the
// Engine API gives in a millisecond. So the client is asked once per binary
// and its answer kept beside the seal key ($XDG_STATE_HOME/rep/clients.json),
// under the binary's identity: its real path, device, inode, size, mtime and
// ctime (ns). A client upgraded, replaced or moved is another binary, asked
// again. Only a client that is itself the program (an executable named
// docker*, not a script): a shim or a dispatcher (a wrapper script, snap's
// /snap/bin/docker -> /usr/bin/snap, a mise or asdf shim) starts whichever
// client it chooses today, unseen in its own stat, so it is asked every time. The file is this user's, read bounded and no-follow, each value
// checked; one that cannot be read is a miss (the client is asked), written
// afresh; at most MAX_CLIENTS binaries are kept, those asked last.
import { accessSync, constants, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { isJsonMap, sha256Of, shallowJson } from '../canonical.js';
import { isRealDir, readBounded } from '../safefs.js';
import { writeFileAtomic } from '../state/files.js';
import { sealKeyFile } from '../state/seal.js';

/** The most binaries remembered (a few clients, each upgraded a few times). */
export const MAX_CLIENTS = 16;
/** The most bytes read: more is not a file rep wrote. */
const LIMIT = 64 << 10;
const FORMAT = 1;
/** A version as docker clients print theirs ("20.10.24+dfsg1", "27.3.1", "v1.2.3-rc.1"). */
const VERSION = /^[0-9A-Za-z][0-9A-Za-z.+~_-]{0,63}$/;

/** Where the versions are kept; undefined where rep keeps no per-user state. */
export function clientsFile(env: NodeJS.ProcessEnv): string | undefined {
  const key = sealKeyFile(env);
  return key && path.join(path.dirname(key), 'clients.json');
}

/** The file `bin` starts, as execa would find it: a path as it is, a name on env's PATH (first executable file). */
export function resolveBin(bin: string, env: NodeJS.ProcessEnv): string | undefined {
  if (bin.includes('/')) return path.resolve(bin);
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    // An empty entry is the working folder, as execvp reads PATH.
    const file = path.resolve(dir || '.', bin);
    try {
      accessSync(file, constants.X_OK);
      if (statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The magic numbers of an executable that is a program itself: ELF, and Mach-O (both byte orders, 32 and 64 bits, universal). */
const PROGRAM_MAGIC = ['7f454c46', 'feedface', 'feedfacf', 'cefaedfe', 'cffaedfe', 'cafebabe'];

/** Whether `file` starts with an executable program's magic number (not "#!", a script). */
function isProgram(file: string): boolean {
  const r = readBounded(file, { limit: 4, head: true });
  return r.ok && r.bytes.length === 4 && PROGRAM_MAGIC.includes(r.bytes.toString('hex'));
}

/**
 * The binary's identity (its real path and stat), hashed; undefined when it cannot be found or is
 * not a client rep may remember (see the head of this file): then the client is asked each time.
 */
export function clientIdentity(bin: string, env: NodeJS.ProcessEnv): string | undefined {
  const file = resolveBin(bin, env);
  if (!file) return undefined;
  try {
    const real = realpathSync(file);
    const st = statSync(real, { bigint: true });
    if (!st.isFile() || !/^(docker|com\.docker\.cli)/.test(path.basename(real)) || !isProgram(real)) return undefined;
    return sha256Of([real, String(st.dev), String(st.ino), String(st.size), String(st.mtimeNs), String(st.ctimeNs)]);
  } catch {
    return undefined;
  }
}

/** The versions kept, oldest first; empty when there is no file or it is not rep's. */
function readClients(file: string): Map<string, string> {
  const kept = new Map<string, string>();
  const r = readBounded(file, { limit: LIMIT });
  if (!r.ok || r.size > LIMIT) return kept;
  try {
    const j = shallowJson(r.bytes.toString('utf8'));
    if (!isJsonMap(j) || j.format !== FORMAT || !Array.isArray(j.clients)) return kept;
    for (const e of j.clients.slice(-MAX_CLIENTS)) {
      if (Array.isArray(e) && e.length === 2 && typeof e[0] === 'string' && /^[0-9a-f]{64}$/.test(e[0]) && typeof e[1] === 'string' && VERSION.test(e[1])) {
        kept.delete(e[0]);
        kept.set(e[0], e[1]);
      }
    }
  } catch {
    // not a file rep wrote: a miss
  }
  return kept;
}

/** The version the client `bin` said when last asked, if this very binary was. */
export function rememberedClientVersion(bin: string, env: NodeJS.ProcessEnv): string | undefined {
  const file = clientsFile(env);
  const id = file && clientIdentity(bin, env);
  return id ? readClients(file).get(id) : undefined;
}

/** Keeps what the client `bin` said; best effort (a read-only home only means asking again). */
export function rememberClientVersion(bin: string, env: NodeJS.ProcessEnv, version: string): void {
  const file = clientsFile(env);
  const id = file && clientIdentity(bin, env);
  if (!id || !VERSION.test(version)) return;
  const kept = readClients(file);
  if (kept.get(id) === version) return;
  kept.delete(id);
  kept.set(id, version);
  const clients = [...kept].slice(-MAX_CLIENTS);
  try {
    // Its folder is the seal key's, made (mode 0700) with the key on the first build.
    if (!isRealDir(path.dirname(file))) return;
    writeFileAtomic(file, `${JSON.stringify({ format: FORMAT, clients })}\n`);
  } catch {
    // a folder rep may not write: asked again next time
  }
}
