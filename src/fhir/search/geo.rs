//! Positions and the `near` search (Location.position; search.html "near", the R4
//! SearchParameter `Location-near`: `[latitude]|[longitude]|[distance]|[units]`).
//!
//! A position is indexed with its point on the unit sphere, so that "within distance d of
//! here" is one comparison of squared chord lengths, which a database evaluates with
//! arithmetic alone (SQLite has no trigonometry; MongoDB's `$expr` does, but the chord needs
//! none) and which stays accurate for small distances, where a cosine of the angle does not.
//! The latitude band the distance allows is what an index serves; the chord test is exact.
//!
//! Distances are great-circle distances on a sphere of the mean Earth radius; WGS84's
//! ellipsoid differs from it by at most 0.5 %, within the accuracy search.html leaves to the
//! server.

/// The mean Earth radius (IUGG), in km.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

/// The distance a `near` search without one means, in km.
pub const DEFAULT_DISTANCE_KM: f64 = 10.0;

/// A position's point on the unit sphere.
pub fn unit_vector(lat: f64, lng: f64) -> [f64; 3] {
    let (la, lo) = (lat.to_radians(), lng.to_radians());
    [la.cos() * lo.cos(), la.cos() * lo.sin(), la.sin()]
}

/// The positions within a distance of a centre: a latitude band an index can serve, and the
/// exact test on the unit vectors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cap {
    /// The centre's unit vector.
    pub centre: [f64; 3],
    /// A position is inside when the squared chord between its unit vector and the centre's
    /// is at most this.
    pub max_chord2: f64,
    /// Every position inside has its latitude in `lat_low..=lat_high`.
    pub lat_low: f64,
    pub lat_high: f64,
    /// The centre's longitude, degrees.
    pub lng: f64,
    /// How far from the centre (an angle at the Earth's centre, radians) a position the chord
    /// test passes may lie: the distance, widened by [`REACH_SLACK`].
    reach: f64,
}

/// Radians (6.4 cm) the band and the longitude width are widened by: more than the chord
/// test's own allowance (a chord of 1e-9, 6.4 mm) and the rounding of all this, so that what
/// an index reads holds everything the chord test passes.
const REACH_SLACK: f64 = 1e-8;

impl Cap {
    pub fn new(lat: f64, lng: f64, km: f64) -> Cap {
        let angle = (km / EARTH_RADIUS_KM).min(std::f64::consts::PI);
        let chord = 2.0 * (angle / 2.0).sin();
        let reach = angle + REACH_SLACK;
        let degrees = reach.to_degrees();
        Cap {
            centre: unit_vector(lat, lng),
            // The centre itself must pass at distance 0 whatever the rounding of the stored
            // vector: 1e-18 is a chord of 1e-9 (6.4 mm).
            max_chord2: chord * chord + 1e-18,
            lat_low: (lat - degrees).max(-90.0),
            lat_high: (lat + degrees).min(90.0),
            lng,
            reach,
        }
    }

    /// How far in longitude (degrees) a position inside may lie from the centre: 180 when the
    /// cap holds a pole or reaches past a quarter of the globe.
    pub fn lng_half_width(&self) -> f64 {
        let centre_lat = self.centre[2].asin();
        if centre_lat.abs() + self.reach >= std::f64::consts::FRAC_PI_2 {
            return 180.0;
        }
        (self.reach.sin() / centre_lat.cos()).asin().to_degrees()
    }

    /// Whether a position with this unit vector lies inside: the test both stores compute in
    /// their own query languages, here as the reference the unit tests check them against.
    #[cfg(test)]
    pub fn contains(&self, v: [f64; 3]) -> bool {
        let d: f64 = (0..3).map(|i| (v[i] - self.centre[i]).powi(2)).sum();
        d <= self.max_chord2
    }
}

/// The factor from a distance unit of a `near` value (UCUM) to km.
pub fn km_per_unit(unit: &str) -> Option<f64> {
    Some(match unit {
        "km" => 1.0,
        "m" => 0.001,
        "[mi_i]" | "mi" => 1.609_344,
        "[mi_us]" => 1.609_347_218_694_437,
        "[nmi_i]" => 1.852,
        "[ft_i]" => 0.000_304_8,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn km_between(a: (f64, f64), b: (f64, f64)) -> f64 {
        let (u, v) = (unit_vector(a.0, a.1), unit_vector(b.0, b.1));
        let chord = (0..3).map(|i| (u[i] - v[i]).powi(2)).sum::<f64>().sqrt();
        2.0 * (chord / 2.0).asin() * EARTH_RADIUS_KM
    }

    #[test]
    fn a_cap_holds_what_lies_within_its_distance_and_nothing_further() {
        // Ann Arbor to Detroit: ~57.6 km by the haversine formula on this radius.
        let (ann_arbor, detroit) = ((42.2808, -83.7430), (42.3314, -83.0458));
        let d = km_between(ann_arbor, detroit);
        assert!((d - 57.6).abs() < 0.5, "{d}");
        let at = |km| Cap::new(ann_arbor.0, ann_arbor.1, km);
        let detroit_v = unit_vector(detroit.0, detroit.1);
        assert!(at(d + 0.01).contains(detroit_v));
        assert!(!at(d - 0.01).contains(detroit_v));
        // The centre at distance 0, and the band holds the point.
        assert!(at(0.0).contains(unit_vector(ann_arbor.0, ann_arbor.1)));
        let cap = at(d + 0.01);
        assert!(cap.lat_low <= detroit.0 && detroit.0 <= cap.lat_high);
    }

    #[test]
    fn caps_cross_the_antimeridian_and_the_poles() {
        let fiji = Cap::new(-17.0, 179.9, 30.0);
        assert!(fiji.contains(unit_vector(-17.0, -179.9)));
        let pole = Cap::new(89.9, 0.0, 30.0);
        assert!(pole.contains(unit_vector(89.9, 180.0)));
        assert_eq!(pole.lat_high, 90.0);
        // A distance past half the globe holds every point.
        let world = Cap::new(0.0, 0.0, 30_000.0);
        assert!(world.contains(unit_vector(0.0, 180.0)));
        assert_eq!((world.lat_low, world.lat_high), (-90.0, 90.0));
        assert_eq!(world.lng_half_width(), 180.0);
        assert_eq!(pole.lng_half_width(), 180.0);
    }

    #[test]
    fn the_longitude_width_holds_the_cap() {
        // 10 km at 46° N: the widest point of the cap is ~0.1295° east and west.
        let cap = Cap::new(46.0, -106.0, 10.0);
        let w = cap.lng_half_width();
        assert!((w - 0.1295).abs() < 0.0005, "{w}");
        // The cap's easternmost point lies on that meridian, a little north of the centre.
        let mut widest: f64 = 0.0;
        for i in 0..2000 {
            let lat = 45.9 + 0.0001 * f64::from(i);
            for j in 0..400 {
                let lng = -106.0 + 0.0005 * f64::from(j);
                if cap.contains(unit_vector(lat, lng)) {
                    widest = widest.max(lng + 106.0);
                }
            }
        }
        assert!(widest <= w && widest > w - 0.001, "{widest} {w}");
    }
}
