/**
 * The layers a user may pick, in the codec's syntax (cobol_codec.parse_layers): numbers 1-7
 * and ranges, comma separated ("1-4", "1,2,6-7"). Checked here so the form can say what is
 * wrong before the upload starts; the server checks again.
 */
export function parseLayers(text: string): number[] {
  const t = text.trim();
  if (!t) throw new Error("empty: leave the field blank to let the profile choose");
  const out = new Set<number>();
  for (const part of t.split(",")) {
    const p = part.trim();
    const m = /^([1-7])(?:\s*-\s*([1-7]))?$/.exec(p);
    if (!m) throw new Error(`"${p}" is not a layer (1-7) or a range such as 2-5`);
    const a = Number(m[1]);
    const b = m[2] ? Number(m[2]) : a;
    if (b < a) throw new Error(`the range "${p}" runs backwards`);
    for (let i = a; i <= b; i++) out.add(i);
  }
  return [...out].sort((x, y) => x - y);
}
