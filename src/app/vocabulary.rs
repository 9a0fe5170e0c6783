//! ZStack's words: every enum value the API reads or writes, spelled as ZStack spells it.
//!
//! The store keeps these as the strings they are (so an inventory written by a newer
//! version stays readable); everything else names them through these enums, never by a
//! literal.

use std::fmt;
use std::str::FromStr;

/// A string that is not one of an enum's words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownWord;

/// Defines an enum of ZStack words with `as_str`, `FromStr`, `Display` and `ALL`.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $word:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $(#[doc = concat!("`", $word, "`")] $variant),+
        }

        impl $name {
            /// Every value, in ZStack's order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The word as ZStack spells it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownWord;

            /// Exact spelling only, as ZStack compares them.
            fn from_str(text: &str) -> Result<$name, UnknownWord> {
                match text {
                    $($word => Ok($name::$variant),)+
                    _ => Err(UnknownWord),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary! {
    /// What a backup storage is: a directory, or a pool of RBD images.
    StorageType { Local = "Local", Ceph = "Ceph" }
}

vocabulary! {
    /// The administrative state of a backup storage or an image.
    State { Enabled = "Enabled", Disabled = "Disabled" }
}

vocabulary! {
    /// Whether imghash can reach a backup storage.
    StorageStatus { Connected = "Connected", Disconnected = "Disconnected", Connecting = "Connecting" }
}

vocabulary! {
    /// Where an image (and each of its refs) is in its life.
    ImageStatus {
        Creating = "Creating",
        Downloading = "Downloading",
        Ready = "Ready",
        Error = "Error",
        Deleted = "Deleted",
        Migrating = "Migrating",
    }
}

vocabulary! {
    /// What an image is used as.
    MediaType {
        RootVolumeTemplate = "RootVolumeTemplate",
        DataVolumeTemplate = "DataVolumeTemplate",
        Iso = "ISO",
    }
}

vocabulary! {
    /// The file format of an image.
    ImageFormat { Qcow2 = "qcow2", Raw = "raw", Iso = "iso", Vmdk = "vmdk", Vmtx = "vmtx" }
}

vocabulary! {
    /// The guest's platform.
    Platform {
        Linux = "Linux",
        Windows = "Windows",
        WindowsVirtio = "WindowsVirtio",
        Other = "Other",
        Paravirtualization = "Paravirtualization",
    }
}

vocabulary! {
    /// The guest's CPU architecture.
    Architecture {
        X86_64 = "x86_64",
        Aarch64 = "aarch64",
        Mips64el = "mips64el",
        Loongarch64 = "loongarch64",
    }
}

vocabulary! {
    /// The image type; ZStack's own images are all "zstack".
    ImageType { Zstack = "zstack" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_parses_back_to_its_value_and_only_exact_spellings_do() {
        for status in ImageStatus::ALL {
            assert_eq!(status.as_str().parse::<ImageStatus>(), Ok(*status));
        }
        assert_eq!("ISO".parse::<MediaType>(), Ok(MediaType::Iso));
        assert_eq!("ready".parse::<ImageStatus>(), Err(UnknownWord));
        assert_eq!(StorageType::Ceph.to_string(), "Ceph");
    }
}
