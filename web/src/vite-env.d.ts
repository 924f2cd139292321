/** Vite's import suffixes (main.ts imports the crypto worker's address with ?worker&url). */
/// <reference types="vite/client" />
