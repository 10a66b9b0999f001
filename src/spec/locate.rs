//! Map a value's path in a YAML document (`node_groups[0].count`) to its line and column, so
//! that validation errors found after deserialisation still point into the file.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// Positions of every mapping key and sequence element, by path.
#[derive(Debug, Default)]
pub struct Positions {
    by_path: HashMap<String, (usize, usize)>,
}

impl Positions {
    /// Index a document. A document the YAML scanner rejects gives an empty index (the serde
    /// parse reports that error with its own location).
    pub fn of(text: &str) -> Self {
        let mut recv = Recorder::default();
        let mut parser = Parser::new_from_str(text);
        let _ = parser.load(&mut recv, false);
        Positions { by_path: recv.out }
    }

    /// Line and column (both 1-based) of `path`, or of its closest indexed ancestor.
    pub fn find(&self, path: &str) -> Option<(usize, usize)> {
        let mut p = path.to_string();
        loop {
            if let Some(pos) = self.by_path.get(&p) {
                return Some(*pos);
            }
            let cut = p.rfind(['.', '['])?;
            p.truncate(cut);
        }
    }
}

enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, index: usize },
}

#[derive(Default)]
struct Recorder {
    stack: Vec<Frame>,
    out: HashMap<String, (usize, usize)>,
}

/// yaml-rust2 lines are 1-based, columns 0-based; editors and serde_yaml count both from 1.
fn pos(mark: Marker) -> (usize, usize) {
    (mark.line(), mark.col() + 1)
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

impl Recorder {
    /// The path of the value about to start, recording where it starts for sequence elements.
    fn child_path(&mut self, mark: Marker) -> String {
        match self.stack.last_mut() {
            None => String::new(),
            Some(Frame::Map { path, key }) => join(path, key.as_deref().unwrap_or("")),
            Some(Frame::Seq { path, index }) => {
                let p = format!("{path}[{index}]");
                self.out.entry(p.clone()).or_insert(pos(mark));
                p
            }
        }
    }

    /// A value (scalar or closed collection) finished in the current frame.
    fn value_done(&mut self) {
        match self.stack.last_mut() {
            Some(Frame::Map { key, .. }) => *key = None,
            Some(Frame::Seq { index, .. }) => *index += 1,
            None => {}
        }
    }
}

impl MarkedEventReceiver for Recorder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(value, ..) => {
                if let Some(Frame::Map { path, key }) = self.stack.last_mut() {
                    if key.is_none() {
                        let p = join(path, &value);
                        self.out.entry(p).or_insert(pos(mark));
                        *key = Some(value);
                        return;
                    }
                }
                self.child_path(mark);
                self.value_done();
            }
            Event::Alias(_) => {
                self.child_path(mark);
                self.value_done();
            }
            Event::MappingStart(..) => {
                let path = self.child_path(mark);
                self.stack.push(Frame::Map { path, key: None });
            }
            Event::SequenceStart(..) => {
                let path = self.child_path(mark);
                self.stack.push(Frame::Seq { path, index: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                self.value_done();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_and_elements() {
        let doc = "name: a\nnode_groups:\n  - name: b\n    count: 4\n  - name: c\n    data_volume:\n      iops: 9\n";
        let p = Positions::of(doc);
        assert_eq!(p.find("name"), Some((1, 1)));
        assert_eq!(p.find("node_groups[0].count"), Some((4, 5)));
        assert_eq!(p.find("node_groups[1].data_volume.iops"), Some((7, 7)));
        // Unknown leaf falls back to the nearest ancestor.
        assert_eq!(p.find("node_groups[1].data_volume.size_gib"), Some((6, 5)));
    }
}
