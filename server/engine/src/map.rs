//! Loading and checking the arena file. The default map, `assets/maps/arena.json`, is built
//! into the binary; `--map FILE` loads another one from disk.

use std::path::Path;

use shared::MapData;

/// The map used when no `--map` is given.
pub const DEFAULT_MAP: &str = include_str!("../../../assets/maps/arena.json");

/// Why a map could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    /// The file could not be read.
    #[error("cannot read map {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a map.
    #[error("map {path} is not valid JSON for a map: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The parse error, with line and column.
        source: serde_json::Error,
    },
    /// The map is unusable.
    #[error("map {path} is invalid: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// Loads `path`, or the built-in map when `None`.
pub fn load(path: Option<&Path>) -> Result<MapData, MapError> {
    match path {
        None => parse(DEFAULT_MAP, "<built-in arena>"),
        Some(path) => {
            let shown = path.display().to_string();
            let text =
                std::fs::read_to_string(path).map_err(|source| MapError::Read { path: shown.clone(), source })?;
            parse(&text, &shown)
        }
    }
}

/// Parses and validates map JSON.
pub fn parse(text: &str, path: &str) -> Result<MapData, MapError> {
    let map: MapData = serde_json::from_str(text).map_err(|source| MapError::Parse { path: path.into(), source })?;
    map.validate().map_err(|reason| MapError::Invalid { path: path.into(), reason })?;
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_map_is_valid() {
        let map = load(None).expect("built-in map loads");
        assert_eq!(map.id, "arena");
        assert!(!map.walls.is_empty() && !map.spawns.is_empty());
    }

    #[test]
    fn bad_maps_are_explained() {
        let err = parse("{", "x.json").expect_err("truncated JSON");
        assert!(err.to_string().contains("not valid JSON"), "{err}");
        let err =
            parse(r#"{"id":"a","width":10,"height":10,"walls":[],"spawns":[]}"#, "x.json").expect_err("no spawns");
        assert!(err.to_string().contains("spawn"), "{err}");
        let err = load(Some(Path::new("/nonexistent/map.json"))).expect_err("missing file");
        assert!(err.to_string().contains("cannot read"), "{err}");
    }
}
