/** A row of a table: column name → cell text (as read from CSV) or number (once featurized). */
export type Row = Readonly<Record<string, string | number>>;

/** Parses RFC 4180 CSV (quoted fields, escaped quotes) into rows keyed by the header line. */
export function parseCsv(text: string): Row[] {
  const records = splitRecords(text);
  const header = records.shift() ?? [];
  return records
    .filter((fields) => fields.length > 1 || fields[0] !== '')
    .map((fields) => Object.fromEntries(header.map((column, i) => [column, fields[i] ?? ''])));
}

function splitRecords(text: string): string[][] {
  const records: string[][] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (char === '"') quoted = false;
      else field += char;
    } else if (char === '"') quoted = true;
    else if (char === ',') {
      fields.push(field);
      field = '';
    } else if (char === '\n') {
      fields.push(field.endsWith('\r') ? field.slice(0, -1) : field);
      records.push(fields);
      fields = [];
      field = '';
    } else field += char;
  }
  if (field !== '' || fields.length > 0) records.push([...fields, field]);
  return records;
}
