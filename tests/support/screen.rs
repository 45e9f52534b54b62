//! What a terminal shows after a program wrote `bytes` to it: a small interpreter of the
//! sequences a progress display uses (carriage return, newline, cursor up/down/column,
//! erase line, erase below, colours ignored). The screen has no height limit, so nothing
//! scrolls away: what it returns is everything that stayed visible. Lines wrap at `width`
//! columns, as a terminal's do.

/// The visible lines, trailing spaces and empty trailing lines removed.
pub fn render(bytes: &[u8], width: usize) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines: Vec<Vec<char>> = vec![Vec::new()];
    let (mut row, mut col) = (0usize, 0usize);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => col = 0,
            '\n' => {
                row += 1;
                col = 0;
            }
            '\x1b' => {
                if chars.peek() != Some(&'[') {
                    chars.next();
                    continue;
                }
                chars.next();
                let mut params = String::new();
                let mut end = ' ';
                for p in chars.by_ref() {
                    if p.is_ascii_alphabetic() || p == '@' || p == '~' {
                        end = p;
                        break;
                    }
                    params.push(p);
                }
                let n = params
                    .trim_start_matches('?')
                    .split(';')
                    .next()
                    .and_then(|n| n.parse::<usize>().ok());
                match end {
                    'A' => row = row.saturating_sub(n.unwrap_or(1).max(1)),
                    'B' => row += n.unwrap_or(1).max(1),
                    'C' => col += n.unwrap_or(1).max(1),
                    'D' => col = col.saturating_sub(n.unwrap_or(1).max(1)),
                    'G' => col = n.unwrap_or(1).max(1) - 1,
                    'K' => {
                        ensure(&mut lines, row);
                        let line = &mut lines[row];
                        match n.unwrap_or(0) {
                            0 => line.truncate(col),
                            1 => line.iter_mut().take(col + 1).for_each(|c| *c = ' '),
                            _ => line.clear(),
                        }
                    }
                    'J' => {
                        ensure(&mut lines, row);
                        if n.unwrap_or(0) == 0 {
                            lines[row].truncate(col);
                            lines.truncate(row + 1);
                        } else {
                            lines.iter_mut().for_each(Vec::clear);
                        }
                    }
                    _ => {} // colours, cursor visibility, ...
                }
            }
            c if c.is_control() => {}
            c => {
                if col >= width {
                    row += 1;
                    col = 0;
                }
                ensure(&mut lines, row);
                let line = &mut lines[row];
                while line.len() < col {
                    line.push(' ');
                }
                if col < line.len() {
                    line[col] = c;
                } else {
                    line.push(c);
                }
                col += 1;
            }
        }
    }
    let mut out: Vec<String> = lines
        .into_iter()
        .map(|l| l.into_iter().collect::<String>().trim_end().to_string())
        .collect();
    while out.last().is_some_and(String::is_empty) {
        out.pop();
    }
    out
}

fn ensure(lines: &mut Vec<Vec<char>>, row: usize) {
    while lines.len() <= row {
        lines.push(Vec::new());
    }
}

#[test]
fn erased_lines_are_gone_and_kept_lines_stay() {
    let shown = render(
        b"one\ntwo\nthree\n\x1b[2A\r\x1b[Jnew\n\x1b[32mgreen\x1b[0m\n",
        80,
    );
    assert_eq!(shown, ["one", "new", "green"]);
    assert_eq!(
        render(b"spin 1\rspin 2\r\x1b[2K\xe2\x9c\x93 done\n", 80),
        ["✓ done"]
    );
    assert_eq!(render(b"abcdef", 4), ["abcd", "ef"]);
}
