import { defineConfig } from "vite";

// The API routes, for `npm run dev` (Vite's dev server on :5173, proxying
// the API to `make dev` on :3000; DASHBOARD_ORIGINS in .env.local allows it).
const API = ["/auth", "/users", "/orgs", "/chats", "/analytics", "/exports", "/openapi.json"];

export default defineConfig({
  // Every page and asset lives under /app/: the API owns the other paths.
  base: "/app/",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    // No data: URLs (the CSP allows only this origin) and no polyfill:
    // every browser the dashboard supports has modulepreload.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
  server: {
    proxy: Object.fromEntries(API.map((path) => [path, "http://127.0.0.1:3000"])),
  },
});
