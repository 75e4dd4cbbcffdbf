/**
 * Start a worker thread on one of our own modules, whether we run from built JavaScript or from the
 * TypeScript sources (tsx, vitest).
 *
 * From sources, the module is bundled once per process with esbuild (tsx's own compiler; packages
 * stay external) into a content-addressed .mjs under node_modules/.cache/tee-sim/, and the worker
 * loads plain JavaScript. The worker does not register tsx: on Node 20 every thread that registers
 * module hooks gets its own hooks thread, talked to through Atomics.wait, and a worker stopped while
 * that start-up is under way could leave the process unable to exit. The worker inherits the
 * parent's execArgv without its loader flags (--import, --require, --loader), so a parent run under
 * the tsx CLI does not pass tsx on, while flags such as --cpu-prof or --inspect still apply.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

const CACHE = new URL('../../node_modules/.cache/tee-sim/', import.meta.url);
const bundled = new Map<string, URL>();

/**
 * The URL a Worker should load for `module` (a URL of a .ts or .js module of ours). A .js module is
 * returned as it is; a .ts module is bundled (once per process) and its bundle's URL returned.
 */
export function workerModuleUrl(module: URL): URL {
  if (!module.pathname.endsWith('.ts')) return module;
  const known = bundled.get(module.href);
  if (known) return known;
  const url = bundle(module);
  bundled.set(module.href, url);
  return url;
}

/** `new Worker` on `module` (see workerModuleUrl); execArgv is the parent's without loader flags unless given. */
export function startModuleWorker(module: URL, options: WorkerOptions = {}): Worker {
  return new Worker(workerModuleUrl(module), { execArgv: withoutLoaderFlags(process.execArgv), ...options });
}

const LOADER_FLAGS = ['--import', '--require', '-r', '--loader', '--experimental-loader'];

/** `argv` without module-loader flags and their values (`--import x` and `--import=x` alike). */
export function withoutLoaderFlags(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (LOADER_FLAGS.includes(arg)) i++; // its value is the next argument
    else if (!LOADER_FLAGS.some((flag) => arg.startsWith(`${flag}=`))) out.push(arg);
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
  }
  return pathToFileURL(fileURLToPath(target));
}

interface Esbuild {
  buildSync(options: Record<string, unknown>): { outputFiles: { text: string }[] };
}

const requireFromHere = createRequire(import.meta.url);
