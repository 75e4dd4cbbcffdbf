// Bootstrap for running the verify worker from TypeScript sources (tsx, vitest): register tsx in
// this thread, then load the worker module. Built JavaScript loads verify-worker.js directly.
import { register } from 'tsx/esm/api';
register();
await import('./verify-worker.ts');
