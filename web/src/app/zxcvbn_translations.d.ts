// The English feedback of @zxcvbn-ts/language-en alone (its word lists are not used):
// the file ships without a declaration of its own.
declare module "@zxcvbn-ts/language-en/dist/translations.mjs" {
  import type { TranslationKeys } from "@zxcvbn-ts/core";

  const translations: TranslationKeys;
  export default translations;
}
