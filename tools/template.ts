/**
 * The template language of nginx/*.conf: plain nginx with `{{name}}` values
 * and two line blocks. The renderer (render.ts) computes the values; every
 * directive is in a template. Leaf module: imports nothing of ours.
 */

/** The values of a repeated block: one record per repetition. */
export type Lists = Record<string, Record<string, string>[]>;

/**
 * Fill a template. `{{name}}` is a value. Two block forms, each marker on a
 * line of its own, no nesting of the same form:
 * - `{{#if name}}` ... `{{/if}}` keeps the lines between only when the value
 *   is not empty (a directive that is on or off; no else);
 * - `{{#each name}}` ... `{{/each}}` repeats the lines once per record of
 *   the list `name` (one per origin, per parameter, per rule), where
 *   `{{field}}` is the record's field, else a value; an `{{#if}}` inside
 *   reads the record's fields too.
 * The renderer computes values only, never directive text. An unknown name,
 * or a marker without its pair, is a bug in a template.
 */
export function fill(template: string, vars: Record<string, string>, name: string, lists?: Lists): string {
  const repeated = template.replace(/^[ \t]*\{\{#each ([a-z_]+)\}\}\n([\s\S]*?)^[ \t]*\{\{\/each\}\}\n/gm, (_, k: string, body: string) => {
    const items = lists?.[k];
    if (!items) throw new Error(`${name}: unknown list {{#each ${k}}}`);
    return items.map((item) => fill(body, { ...vars, ...item }, name)).join('');
  });
  if (/\{\{[#\/]each/.test(repeated)) throw new Error(`${name}: {{#each}} and {{/each}} must pair, each on a line of its own`);
  const known = (k: string) => {
    if (!(k in vars)) throw new Error(`${name}: unknown placeholder {{${k}}}`);
    return vars[k];
  };
  const blocks = repeated.replace(/^[ \t]*\{\{#if ([a-z_]+)\}\}\n([\s\S]*?)^[ \t]*\{\{\/if\}\}\n/gm, (_, k: string, body: string) =>
    known(k) !== '' ? body : '');
  if (/\{\{[#\/]/.test(blocks)) throw new Error(`${name}: {{#if}} and {{/if}} must pair, each on a line of its own`);
  return blocks.replace(/\{\{([a-z_]+)\}\}/g, (_, k: string) => known(k));
}
