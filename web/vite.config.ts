// The operator / LP console: React 19 through Vite's built-in JSX transform (oxc),
// built into web/dist and served by the API process (src/api/console.ts).
import { defineConfig } from 'vite';

export default defineConfig({
  root: '.',
  base: '/',
  // React 19's automatic JSX runtime, without @vitejs/plugin-react
  oxc: { jsx: { runtime: 'automatic', importSource: 'react' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: false,
  },
  server: {
    // `vite` in web/ for development: the API on its default port
    proxy: { '/api': 'http://127.0.0.1:3000' },
  },
});
