/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** Backend base URL baked in at build time; empty = same origin. */
  readonly VITE_API_URL?: string;
}

interface ImportMeta {
  readonly env: ImportMetaEnv;
}
