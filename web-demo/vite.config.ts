import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

// Works both as `vite build web-demo` and `vite build --config web-demo/vite.config.ts`.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
  },
})
