// Bootstrap for running the trusted-key worker from TypeScript sources (tsx, vitest): register tsx
// in this thread, then load the worker module. Built JavaScript loads trusted-key-worker.js directly.
import { register } from 'tsx/esm/api';
register();
await import('./trusted-key-worker.ts');
