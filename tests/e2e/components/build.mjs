// Builds the seed manual's Vue and React components (tests/e2e/components) with Vite into outDir,
// one page per component: vue-sse.html, vue-ws.html, react-sse.html. Used by components.test.mjs,
// once per run. Vite 7: @vitejs/plugin-vue compiles the .vue files; the .jsx files need no plugin,
// Vite's own esbuild step turns JSX into React 17+ automatic-runtime calls (react/jsx-runtime).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import vue from '@vitejs/plugin-vue';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const PAGES = ['vue-sse', 'vue-ws', 'react-sse'];

export async function buildComponents(outDir) {
  await build({
    configFile: false,
    root: HERE,
    base: './',
    logLevel: 'warn',
    plugins: [vue()],
    esbuild: { jsx: 'automatic' },
    build: {
      outDir,
      emptyOutDir: true,
      minify: false,
      rollupOptions: { input: Object.fromEntries(PAGES.map((p) => [p, path.join(HERE, p + '.html')])) },
    },
  });
  return outDir;
}
