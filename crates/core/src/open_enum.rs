//! [`open_enum!`](crate::open_enum): the open enums of vendor values. Every known wire value is a
//! variant, anything else is kept verbatim in `Unknown(String)`, so a value a vendor adds tomorrow
//! never breaks parsing — and is sent back exactly as received.

/// Declares an open enum: known variants with their wire names plus `Unknown(String)`,
/// serialised and deserialised as the plain wire string.
///
/// The enum gets `#[derive(Clone, Debug, PartialEq, Eq, Hash)]` and `#[non_exhaustive]`, and:
/// `as_str()` (the wire value), `is_unknown()`, `From<&str>`, `From<String>`, `Display` (the wire
/// value), and serde `Serialize`/`Deserialize` as a string (through this crate's serde, so the
/// calling crate needs no serde dependency of its own). Attributes and doc comments on the enum
/// and on each variant are kept; the visibility is the caller's.
///
/// ```
/// chatport_core::open_enum! {
///     /// A message status.
///     pub enum Status {
///         /// Accepted by the server.
///         Sent => "sent",
///         /// Shown to the recipient.
///         Read => "read",
///     }
/// }
///
/// assert_eq!(Status::from("read"), Status::Read);
/// assert_eq!(Status::Sent.as_str(), "sent");
/// let new = Status::from("deleted");
/// assert!(new.is_unknown());
/// assert_eq!(new.to_string(), "deleted");
/// assert_eq!(serde_json::to_string(&Status::Read)?, r#""read""#);
/// assert_eq!(serde_json::from_str::<Status>(r#""failed""#)?, Status::Unknown("failed".into()));
/// # Ok::<(), serde_json::Error>(())
/// ```
///
/// Starting the invocation with `#[default_unknown]` (before any doc comment) also implements
/// `Default` as `Unknown("")`, for a field that a vendor may leave out (`#[serde(default)]`):
///
/// ```
/// chatport_core::open_enum! {
///     #[default_unknown]
///     /// A message type.
///     pub enum Kind {
///         /// Text.
///         Text => "text",
///     }
/// }
///
/// assert_eq!(Kind::default(), Kind::Unknown(String::new()));
/// ```
#[macro_export]
macro_rules! open_enum {
    (
        #[default_unknown]
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $wire:literal, )*
        }
    ) => {
        $crate::open_enum! {
            $(#[$meta])*
            $vis enum $name {
                $( $(#[$vmeta])* $variant => $wire, )*
            }
        }

        impl ::std::default::Default for $name {
            /// `Unknown("")`: the value of a field the vendor left out.
            fn default() -> Self {
                Self::Unknown(::std::string::String::new())
            }
        }
    };
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $wire:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value this version of the crate does not know, kept exactly as received.
            Unknown(::std::string::String),
        }

        impl $name {
            /// The value as it appears on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $wire, )*
                    Self::Unknown(other) => other.as_str(),
                }
            }

            /// Whether this is a value the crate does not know.
            pub fn is_unknown(&self) -> bool {
                matches!(self, Self::Unknown(_))
            }
        }

        impl ::std::convert::From<&str> for $name {
            fn from(value: &str) -> Self {
                match value {
                    $( $wire => Self::$variant, )*
                    other => Self::Unknown(other.to_owned()),
                }
            }
        }

        impl ::std::convert::From<::std::string::String> for $name {
            fn from(value: ::std::string::String) -> Self {
                match value.as_str() {
                    $( $wire => Self::$variant, )*
                    _ => Self::Unknown(value),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl $crate::__private::serde::Serialize for $name {
            fn serialize<S: $crate::__private::serde::Serializer>(
                &self,
                serializer: S,
            ) -> ::std::result::Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> $crate::__private::serde::Deserialize<'de> for $name {
            fn deserialize<D: $crate::__private::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::std::result::Result<Self, D::Error> {
                let value = <::std::string::String as $crate::__private::serde::Deserialize>::deserialize(deserializer)?;
                Ok(Self::from(value))
            }
        }
    };
}

#[cfg(test)]
#[allow(unreachable_pub)]
mod tests {
    crate::open_enum! {
        /// A test enum.
        pub enum Colour {
            /// Red.
            Red => "red",
            /// Light blue.
            LightBlue => "light_blue",
        }
    }

    #[test]
    fn known_and_unknown_values_round_trip() {
        assert_eq!(Colour::from("light_blue"), Colour::LightBlue);
        assert_eq!(Colour::from(String::from("red")), Colour::Red);
        assert!(!Colour::Red.is_unknown());
        let other = Colour::from("green");
        assert_eq!(other, Colour::Unknown("green".into()));
        assert!(other.is_unknown());
        assert_eq!(other.as_str(), "green");
        assert_eq!(Colour::LightBlue.to_string(), "light_blue");
        let json = serde_json::to_string(&[Colour::Red, other.clone()]).unwrap();
        assert_eq!(json, r#"["red","green"]"#);
        let back: Vec<Colour> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, [Colour::Red, other]);
        assert!(serde_json::from_str::<Colour>("1").is_err());
    }
}
