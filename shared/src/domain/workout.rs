//! The 117 unified workout types (data-model §2.3), pace eligibility and pace computation (§3.6), and
//! the SDK workout-type mapping table (§4.5).

use serde::{Deserialize, Serialize};

macro_rules! workout_types {
    ($($variant:ident = $code:literal;)*) => {
        /// A unified workout type. Serialises as its wire code (e.g. `"trail_running"`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum WorkoutType {
            $(
                #[doc = concat!("`", $code, "`")]
                $variant,
            )*
        }

        impl WorkoutType {
            /// All workout types in catalogue order.
            pub const ALL: &'static [WorkoutType] = &[$(WorkoutType::$variant,)*];

            /// Wire code.
            pub fn code(self) -> &'static str {
                match self { $(WorkoutType::$variant => $code,)* }
            }

            /// Exact lookup by wire code.
            pub fn from_code(code: &str) -> Option<WorkoutType> {
                match code { $($code => Some(WorkoutType::$variant),)* _ => None }
            }
        }
    };
}

workout_types! {
    // Running & Walking
    Running = "running";
    TrailRunning = "trail_running";
    Treadmill = "treadmill";
    Walking = "walking";
    Hiking = "hiking";
    Mountaineering = "mountaineering";
    // Cycling
    Cycling = "cycling";
    MountainBiking = "mountain_biking";
    IndoorCycling = "indoor_cycling";
    Cyclocross = "cyclocross";
    // Swimming
    Swimming = "swimming";
    PoolSwimming = "pool_swimming";
    OpenWaterSwimming = "open_water_swimming";
    // Strength & Gym
    StrengthTraining = "strength_training";
    CardioTraining = "cardio_training";
    FitnessEquipment = "fitness_equipment";
    Elliptical = "elliptical";
    RowingMachine = "rowing_machine";
    StairClimbing = "stair_climbing";
    // Flexibility & Mind-Body
    Yoga = "yoga";
    Pilates = "pilates";
    Stretching = "stretching";
    Meditation = "meditation";
    // Winter Sports
    CrossCountrySkiing = "cross_country_skiing";
    AlpineSkiing = "alpine_skiing";
    BackcountrySkiing = "backcountry_skiing";
    DownhillSkiing = "downhill_skiing";
    Snowboarding = "snowboarding";
    Snowshoeing = "snowshoeing";
    IceSkating = "ice_skating";
    Snowmobiling = "snowmobiling";
    WinterSports = "winter_sports";
    SnowSports = "snow_sports";
    // Water Sports
    Rowing = "rowing";
    Kayaking = "kayaking";
    Canoeing = "canoeing";
    Paddling = "paddling";
    StandUpPaddleboarding = "stand_up_paddleboarding";
    Surfing = "surfing";
    Kitesurfing = "kitesurfing";
    Windsurfing = "windsurfing";
    Sailing = "sailing";
    WaterPolo = "water_polo";
    Wakeboarding = "wakeboarding";
    WaterSkiing = "water_skiing";
    Boating = "boating";
    WaterSports = "water_sports";
    // Team Sports
    Soccer = "soccer";
    Basketball = "basketball";
    Football = "football";
    AmericanFootball = "american_football";
    Baseball = "baseball";
    Tennis = "tennis";
    Badminton = "badminton";
    Volleyball = "volleyball";
    Handball = "handball";
    Rugby = "rugby";
    Hockey = "hockey";
    Floorball = "floorball";
    Lacrosse = "lacrosse";
    Cricket = "cricket";
    // Racket Sports
    Squash = "squash";
    TableTennis = "table_tennis";
    Padel = "padel";
    Pickleball = "pickleball";
    Racquetball = "racquetball";
    RacketSports = "racket_sports";
    // Combat Sports
    Boxing = "boxing";
    MartialArts = "martial_arts";
    Wrestling = "wrestling";
    Fencing = "fencing";
    // Outdoor Activities
    RockClimbing = "rock_climbing";
    IndoorClimbing = "indoor_climbing";
    Bouldering = "bouldering";
    TrailHiking = "trail_hiking";
    Orienteering = "orienteering";
    Archery = "archery";
    Fishing = "fishing";
    Hunting = "hunting";
    Paragliding = "paragliding";
    Parkour = "parkour";
    // Other Sports
    Golf = "golf";
    Skating = "skating";
    InlineSkating = "inline_skating";
    Skateboarding = "skateboarding";
    HorsebackRiding = "horseback_riding";
    Gymnastics = "gymnastics";
    Bowling = "bowling";
    Curling = "curling";
    DiscSports = "disc_sports";
    // Multisport
    Triathlon = "triathlon";
    Multisport = "multisport";
    // Motor Sports
    Motorcycling = "motorcycling";
    MotorSports = "motor_sports";
    // Dance & Group Fitness
    Dance = "dance";
    Aerobics = "aerobics";
    GroupExercise = "group_exercise";
    // E-Sports & Alternative
    EBiking = "e_biking";
    VirtualActivity = "virtual_activity";
    // Diving
    Diving = "diving";
    Snorkeling = "snorkeling";
    // Casual & General
    WalkingFitness = "walking_fitness";
    CasualWalking = "casual_walking";
    // Transition
    Transition = "transition";
    // Generic sport categories
    TeamSports = "team_sports";
    ParaSports = "para_sports";
    Play = "play";
    Wheelchair = "wheelchair";
    // Lifestyle & Wellness
    Recovery = "recovery";
    Gaming = "gaming";
    Chores = "chores";
    Lifestyle = "lifestyle";
    Work = "work";
    Operations = "operations";
    // Generic / Other
    Generic = "generic";
    Other = "other";
    Sport = "sport";
}

impl std::fmt::Display for WorkoutType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for WorkoutType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for WorkoutType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        WorkoutType::from_code(&code)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown workout type: {code}")))
    }
}

/// The 28 pace-eligible types (`WORKOUTS_WITH_PACE`).
pub const PACE_ELIGIBLE: [WorkoutType; 28] = {
    use WorkoutType::*;
    [
        Running,
        TrailRunning,
        Treadmill,
        Walking,
        Hiking,
        Mountaineering,
        TrailHiking,
        WalkingFitness,
        CasualWalking,
        Cycling,
        MountainBiking,
        IndoorCycling,
        Cyclocross,
        EBiking,
        Swimming,
        PoolSwimming,
        OpenWaterSwimming,
        Rowing,
        Kayaking,
        Canoeing,
        Paddling,
        StandUpPaddleboarding,
        CrossCountrySkiing,
        BackcountrySkiing,
        Skating,
        InlineSkating,
        IceSkating,
        Triathlon,
    ]
};

impl WorkoutType {
    /// True when a pace (sec/km) is meaningful for this type.
    pub fn has_pace(self) -> bool {
        PACE_ELIGIBLE.contains(&self)
    }
}

/// Maps an SDK workout `type` string (HealthKit snake_case or Health Connect upper-case) to a
/// [`WorkoutType`] (§4.5): input is trimmed and lower-cased; `other` ⇒ `generic`; anything unknown ⇒
/// `other`. The caller maps an *absent* type to `None` itself.
pub fn map_sdk_workout_type(raw: &str) -> WorkoutType {
    use WorkoutType as W;
    let key = raw.trim().to_lowercase();
    match key.as_str() {
        "walking" | "wheelchair_walk" => W::Walking,
        "running" | "wheelchair_run" | "track_and_field" => W::Running,
        "cycling" | "hand_cycling" => W::Cycling,
        "cycling_stationary" => W::IndoorCycling,
        "running_treadmill" => W::Treadmill,
        "elliptical" => W::Elliptical,
        "stair_climbing" | "stairs" | "stair_climbing_machine" => W::StairClimbing,
        "jump_rope"
        | "cross_training"
        | "mixed_cardio"
        | "hiit"
        | "mixed_metabolic_cardio_training"
        | "boot_camp"
        | "exercise_class" => W::CardioTraining,
        "core_training"
        | "functional_strength_training"
        | "strength_training"
        | "calisthenics"
        | "weightlifting" => W::StrengthTraining,
        "step_training" | "barre" => W::Aerobics,
        "fitness_gaming" => W::Gaming,
        "preparation_and_recovery"
        | "flexibility"
        | "cooldown"
        | "mind_and_body"
        | "stretching" => W::Stretching,
        "cardio_dance" | "social_dance" | "dance" | "dance_inspired_training" | "dancing" => {
            W::Dance
        }
        "yoga" => W::Yoga,
        "pilates" => W::Pilates,
        "guided_breathing" => W::Meditation,
        "american_football" | "football_american" => W::AmericanFootball,
        "australian_football" | "football_australian" => W::Football,
        "baseball" | "softball" => W::Baseball,
        "disc_sports" | "frisbee_disc" => W::DiscSports,
        "hockey" | "ice_hockey" | "roller_hockey" => W::Hockey,
        "climbing" | "rock_climbing" => W::RockClimbing,
        "equestrian" => W::HorsebackRiding,
        "downhill_skiing" | "skiing" => W::AlpineSkiing,
        "skating" | "ice_skating" => W::IceSkating,
        "paddle_sports" | "paddling" => W::Paddling,
        "swimming" | "water_fitness" => W::Swimming,
        "swimming_pool" => W::PoolSwimming,
        "swimming_open_water" => W::OpenWaterSwimming,
        "underwater_diving" | "scuba_diving" => W::Diving,
        "kickboxing" => W::Boxing,
        "tai_chi" | "wrestling" => W::MartialArts,
        "gymnastics" => W::FitnessEquipment,
        "swim_bike_run" => W::Triathlon,
        "other" => W::Generic,
        other => same_name_sdk_type(other).unwrap_or(W::Other),
    }
}

/// SDK types that map to the unified type of the same name.
const SAME_NAME_SDK_TYPES: [&str; 37] = [
    "basketball",
    "cricket",
    "handball",
    "lacrosse",
    "rugby",
    "soccer",
    "volleyball",
    "badminton",
    "pickleball",
    "racquetball",
    "squash",
    "table_tennis",
    "tennis",
    "fishing",
    "golf",
    "hiking",
    "hunting",
    "play",
    "curling",
    "snowboarding",
    "rowing",
    "sailing",
    "surfing",
    "water_polo",
    "water_sports",
    "boxing",
    "martial_arts",
    "archery",
    "bowling",
    "fencing",
    "transition",
    "snow_sports",
    "cross_country_skiing",
    "paragliding",
    "snowshoeing",
    "rowing_machine",
    "wheelchair",
];

fn same_name_sdk_type(key: &str) -> Option<WorkoutType> {
    if SAME_NAME_SDK_TYPES.contains(&key) {
        WorkoutType::from_code(key)
    } else {
        None
    }
}

/// Detail-view pace (§3.6): only for pace-eligible types; `1000 / average_speed` when speed > 0,
/// else `duration_seconds / distance × 1000` when distance > 0; otherwise `None` (unrounded).
pub fn pace_sec_per_km(
    workout_type: Option<WorkoutType>,
    average_speed: Option<f64>,
    duration_seconds: Option<i64>,
    distance_m: Option<f64>,
) -> Option<f64> {
    if !workout_type.is_some_and(WorkoutType::has_pace) {
        return None;
    }
    if let Some(speed) = average_speed.filter(|s| *s > 0.0) {
        return Some(1000.0 / speed);
    }
    let distance = distance_m.filter(|d| *d > 0.0)?;
    duration_seconds.map(|d| d as f64 / distance * 1000.0)
}

/// Outgoing `workout.created` webhook pace: `int(1000 / average_speed)` for any type when speed > 0.
pub fn webhook_pace_sec_per_km(average_speed: Option<f64>) -> Option<i64> {
    average_speed
        .filter(|s| *s > 0.0)
        .map(|s| (1000.0 / s).trunc() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn catalogue() {
        assert_eq!(WorkoutType::ALL.len(), 117);
        let codes: HashSet<&str> = WorkoutType::ALL.iter().map(|w| w.code()).collect();
        assert_eq!(codes.len(), 117);
        for w in WorkoutType::ALL {
            assert_eq!(WorkoutType::from_code(w.code()), Some(*w));
            assert!(w.code().len() <= 32);
        }
        let pace: HashSet<WorkoutType> = PACE_ELIGIBLE.iter().copied().collect();
        assert_eq!(pace.len(), 28);
        assert!(WorkoutType::TrailHiking.has_pace());
        assert!(!WorkoutType::Yoga.has_pace());
    }

    #[test]
    fn sdk_mapping() {
        assert_eq!(map_sdk_workout_type("running"), WorkoutType::Running);
        assert_eq!(
            map_sdk_workout_type("  RUNNING_TREADMILL "),
            WorkoutType::Treadmill
        );
        assert_eq!(
            map_sdk_workout_type("traditional_strength_training"),
            WorkoutType::Other
        );
        assert_eq!(
            map_sdk_workout_type("FUNCTIONAL_STRENGTH_TRAINING"),
            WorkoutType::StrengthTraining
        );
        assert_eq!(map_sdk_workout_type("other"), WorkoutType::Generic);
        assert_eq!(map_sdk_workout_type("OTHER"), WorkoutType::Generic);
        assert_eq!(map_sdk_workout_type("made_up"), WorkoutType::Other);
        assert_eq!(map_sdk_workout_type(""), WorkoutType::Other);
        assert_eq!(
            map_sdk_workout_type("football_australian"),
            WorkoutType::Football
        );
        assert_eq!(
            map_sdk_workout_type("equestrian"),
            WorkoutType::HorsebackRiding
        );
        assert_eq!(map_sdk_workout_type("skiing"), WorkoutType::AlpineSkiing);
        assert_eq!(
            map_sdk_workout_type("swimming_open_water"),
            WorkoutType::OpenWaterSwimming
        );
        assert_eq!(
            map_sdk_workout_type("gymnastics"),
            WorkoutType::FitnessEquipment
        );
        assert_eq!(map_sdk_workout_type("tai_chi"), WorkoutType::MartialArts);
        assert_eq!(
            map_sdk_workout_type("rowing_machine"),
            WorkoutType::RowingMachine
        );
        assert_eq!(
            map_sdk_workout_type("table_tennis"),
            WorkoutType::TableTennis
        );
        assert_eq!(map_sdk_workout_type("wheelchair"), WorkoutType::Wheelchair);
        // Unified codes that are not SDK vocabulary fall to `other`.
        assert_eq!(map_sdk_workout_type("trail_running"), WorkoutType::Other);
        for name in SAME_NAME_SDK_TYPES {
            assert!(WorkoutType::from_code(name).is_some(), "{name}");
        }
    }

    #[test]
    fn pace() {
        let run = Some(WorkoutType::Running);
        assert_eq!(
            pace_sec_per_km(run, Some(4.0), Some(100), Some(1.0)),
            Some(250.0)
        );
        assert_eq!(
            pace_sec_per_km(run, Some(0.0), Some(1500), Some(5000.0)),
            Some(300.0)
        );
        assert_eq!(pace_sec_per_km(run, None, Some(1500), Some(0.0)), None);
        assert_eq!(
            pace_sec_per_km(Some(WorkoutType::Yoga), Some(4.0), None, None),
            None
        );
        assert_eq!(pace_sec_per_km(None, Some(4.0), None, None), None);
        assert_eq!(webhook_pace_sec_per_km(Some(3.0)), Some(333));
        assert_eq!(webhook_pace_sec_per_km(Some(0.0)), None);
    }
}
