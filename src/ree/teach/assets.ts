/**
 * The page's static files, built in memory by Vite from ./page on first use (about a second) and kept
 * for the life of the process: nothing generated is committed or written to disk, and a fresh clone
 * needs only `npm install`. The build uses no network.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TeeError } from '../../common/errors.js';

export interface PageAsset {
  contentType: string;
  body: Uint8Array;
}

export const PAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), 'page');

const TYPES: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
  json: 'application/json',
};

function contentType(fileName: string): string {
  return TYPES[/\.([a-z0-9]+)$/i.exec(fileName)?.[1]?.toLowerCase() ?? ''] ?? 'application/octet-stream';
}

interface OutputItem {
  type: 'asset' | 'chunk';
  fileName: string;
  source?: string | Uint8Array;
  code?: string;
}

let built: Promise<Map<string, PageAsset>> | undefined;

/** Build the page (once per process) and return its files by URL path ('/index.html', '/assets/…'). */
export function pageAssets(): Promise<Map<string, PageAsset>> {
  built ??= buildPage().catch((err: unknown) => {
    built = undefined;
    throw err;
  });
  return built;
}

async function buildPage(): Promise<Map<string, PageAsset>> {
  const vite = await import('vite');
  let result: unknown;
  try {
    result = await vite.build({
      root: PAGE_DIR,
      configFile: false,
      envFile: false,
      logLevel: 'silent',
      base: './',
      publicDir: false,
      build: { write: false, outDir: 'dist', emptyOutDir: false, modulePreload: false, sourcemap: false, reportCompressedSize: false, target: 'es2022' },
    });
  } catch (err) {
    throw new TeeError('GENERIC', `teach: the page did not build (${err instanceof Error ? err.message.split('\n')[0] : 'unknown error'})`, 'API');
  }
  const outputs = (Array.isArray(result) ? result : [result]) as { output: OutputItem[] }[];
  const files = new Map<string, PageAsset>();
  const encoder = new TextEncoder();
  for (const { output } of outputs) {
    for (const item of output) {
      const text = item.type === 'chunk' ? item.code ?? '' : item.source ?? '';
      files.set(`/${item.fileName}`, { contentType: contentType(item.fileName), body: typeof text === 'string' ? encoder.encode(text) : text });
    }
  }
  if (!files.has('/index.html')) throw new TeeError('GENERIC', 'teach: the page build produced no index.html', 'API');
  return files;
}
