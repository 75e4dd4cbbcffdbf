/**
 * Start a worker thread on one of our own modules, whether we run from built JavaScript or from the
 * TypeScript sources (tsx, vitest).
 *
 * From sources, the module is bundled once per process with esbuild (tsx's own compiler; packages
 * stay external) into a content-addressed .mjs under node_modules/.cache/tee-sim/, and the worker
 * loads plain JavaScript. The worker does not register tsx: on Node 20 every thread that registers
 * module hooks gets its own hooks thread, talked to through Atomics.wait, and a worker stopped while
 * that start-up is under way could leave the process unable to exit. The worker inherits the
 * parent's execArgv without its loader flags (--import, --require, --loader) and entry-point flags
 * (-e/-p code, --input-type), so a parent run under the tsx CLI does not pass tsx on, while flags
 * such as --cpu-prof or --inspect still apply. Flags that belong to the whole process (V8 heap
 * sizes such as --max-semi-space-size) are refused by Node for a worker; those are left out too, so
 * a parent started with them can still start workers.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

const CACHE = new URL('../../node_modules/.cache/tee-sim/', import.meta.url);
/** Bundles of other versions of a module (and abandoned temporary files) older than this are deleted. */
export const STALE_BUNDLE_MS = 24 * 60 * 60 * 1000;
const bundled = new Map<string, URL>();

/**
 * The module `name` next to the module at `importMetaUrl`, with that module's extension: `.ts` when
 * run from sources, `.js` when built (a worker module lives beside the code that starts it).
 */
export function siblingModule(name: string, importMetaUrl: string): URL {
  return new URL(`./${name}${importMetaUrl.slice(importMetaUrl.lastIndexOf('.'))}`, importMetaUrl);
}

/**
 * The URL a Worker should load for `module` (a URL of a .ts or .js module of ours). A .js module is
 * returned as it is; a .ts module is bundled (once per process) and its bundle's URL returned.
 */
export function workerModuleUrl(module: URL): URL {
  if (!module.pathname.endsWith('.ts')) return module;
  const known = bundled.get(module.href);
  // Another process may have pruned it since (see pruneStale): then it is written again.
  if (known && existsSync(known)) return known;
  const url = bundle(module);
  bundled.set(module.href, url);
  return url;
}

/**
 * `new Worker` on `module` (see workerModuleUrl). Unless `options.execArgv` is given, the worker gets
 * the parent's execArgv without loader flags and without the process-wide flags Node refuses for a
 * worker.
 */
export function startModuleWorker(module: URL, options: WorkerOptions = {}): Worker {
  const url = workerModuleUrl(module);
  if (options.execArgv !== undefined) return new Worker(url, options);
  let execArgv = withoutLoaderFlags(process.execArgv);
  try {
    return new Worker(url, { ...options, execArgv });
  } catch (err) {
    if (!isRefusedExecArgv(err)) throw err;
    // Node names the flags it refused; without them, or failing that without any, the worker starts.
    const refused = new Set(refusedFlags(err));
    const kept = execArgv.filter((arg) => !refused.has(arg));
    execArgv = kept.length < execArgv.length ? kept : [];
  }
  try {
    return new Worker(url, { ...options, execArgv });
  } catch (err) {
    if (!isRefusedExecArgv(err) || execArgv.length === 0) throw err;
    return new Worker(url, { ...options, execArgv: [] });
  }
}

function isRefusedExecArgv(err: unknown): err is Error {
  return err instanceof Error && (err as { code?: unknown }).code === 'ERR_WORKER_INVALID_EXEC_ARGV';
}

/** The flags listed in Node's "Initiated Worker with invalid execArgv flags: a, b" message. */
function refusedFlags(err: Error): string[] {
  const colon = err.message.indexOf(':');
  return colon < 0 ? [] : err.message.slice(colon + 1).split(',').map((flag) => flag.trim()).filter(Boolean);
}

/** Flags, each with a value, that a worker must not inherit: module loaders and the parent's own entry point. */
const PARENT_ONLY_FLAGS = ['--import', '--require', '-r', '--loader', '--experimental-loader', '-e', '--eval', '-p', '--print', '--input-type'];

/**
 * `argv` without module-loader flags (--import, --require, --loader) and the parent's entry-point
 * flags (-e/-p code, --input-type), with their values (`--import x` and `--import=x` alike).
 */
export function withoutLoaderFlags(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (PARENT_ONLY_FLAGS.includes(arg)) i++; // its value is the next argument
    else if (!PARENT_ONLY_FLAGS.some((flag) => arg.startsWith(`${flag}=`))) out.push(arg);
  }
  return out;
}

function bundle(module: URL): URL {
  // Loaded only here: built JavaScript never bundles.
  const esbuild = requireFromHere('esbuild') as Esbuild;
  const result = esbuild.buildSync({
    entryPoints: [fileURLToPath(module)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    write: false,
    logLevel: 'silent',
  });
  const text = result.outputFiles[0]!.text;
  const name = module.pathname.slice(module.pathname.lastIndexOf('/') + 1, -'.ts'.length);
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
  const target = new URL(`${name}-${hash}.mjs`, CACHE);
  if (!existsSync(target)) {
    // Concurrent processes may write the same bundle: each writes its own file and renames it into
    // place, so a reader never sees a half-written one.
    mkdirSync(CACHE, { recursive: true });
    const temporary = fileURLToPath(target) + `.${process.pid}.${Math.floor(performance.now() * 1000)}.tmp`;
    writeFileSync(temporary, text);
    renameSync(temporary, target);
    pruneStale(name, target);
  }
  return pathToFileURL(fileURLToPath(target));
}

/**
 * Delete this module's bundles of other versions, and temporary files, not touched for
 * STALE_BUNDLE_MS: every edit of a worker's sources makes a new bundle, and the cache would only
 * grow. A process still running with a pruned bundle writes it again when it next starts a worker.
 * Best effort: a file another process deletes first, or cannot be read, is skipped.
 */
function pruneStale(name: string, keep: URL): void {
  const dir = fileURLToPath(CACHE);
  const kept = fileURLToPath(keep);
  const cutoff = Date.now() - STALE_BUNDLE_MS;
  // name-<16 hex>.mjs, or its temporary name-<16 hex>.mjs.<pid>.<n>.tmp: not another module whose name starts alike.
  const pattern = new RegExp(`^${name.replace(/[^a-zA-Z0-9]/g, '\\$&')}-[0-9a-f]{16}\\.mjs(\\.[0-9]+\\.[0-9]+\\.tmp)?$`);
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const entry of entries) {
    const ours = pattern.test(entry);
    const path = `${dir}${entry}`;
    if (!ours || path === kept) continue;
    try {
      if (statSync(path).mtimeMs < cutoff) unlinkSync(path);
    } catch {
      // gone already, or not ours to delete
    }
  }
}

interface Esbuild {
  buildSync(options: Record<string, unknown>): { outputFiles: { text: string }[] };
}

const requireFromHere = createRequire(import.meta.url);
