package policy

// countryZones maps an ISO 3166-1 alpha-2 country code to the IANA zone most
// of its people live in. It was derived from the tz database's iso3166.tab and
// zone.tab (2025b): countries with one zone take it; for countries with several
// the most populous zone was picked by hand. It is a table rather than a file
// read at runtime so the binary needs nothing but the embedded time/tzdata.
var countryZones = map[string]string{
	"AD": "Europe/Andorra",                 // Andorra
	"AE": "Asia/Dubai",                     // United Arab Emirates
	"AF": "Asia/Kabul",                     // Afghanistan
	"AG": "America/Antigua",                // Antigua & Barbuda
	"AI": "America/Anguilla",               // Anguilla
	"AL": "Europe/Tirane",                  // Albania
	"AM": "Asia/Yerevan",                   // Armenia
	"AO": "Africa/Luanda",                  // Angola
	"AQ": "Antarctica/McMurdo",             // Antarctica
	"AR": "America/Argentina/Buenos_Aires", // Argentina
	"AS": "Pacific/Pago_Pago",              // Samoa (American)
	"AT": "Europe/Vienna",                  // Austria
	"AU": "Australia/Sydney",               // Australia
	"AW": "America/Aruba",                  // Aruba
	"AX": "Europe/Mariehamn",               // Åland Islands
	"AZ": "Asia/Baku",                      // Azerbaijan
	"BA": "Europe/Sarajevo",                // Bosnia & Herzegovina
	"BB": "America/Barbados",               // Barbados
	"BD": "Asia/Dhaka",                     // Bangladesh
	"BE": "Europe/Brussels",                // Belgium
	"BF": "Africa/Ouagadougou",             // Burkina Faso
	"BG": "Europe/Sofia",                   // Bulgaria
	"BH": "Asia/Bahrain",                   // Bahrain
	"BI": "Africa/Bujumbura",               // Burundi
	"BJ": "Africa/Porto-Novo",              // Benin
	"BL": "America/St_Barthelemy",          // St Barthelemy
	"BM": "Atlantic/Bermuda",               // Bermuda
	"BN": "Asia/Brunei",                    // Brunei
	"BO": "America/La_Paz",                 // Bolivia
	"BQ": "America/Kralendijk",             // Caribbean NL
	"BR": "America/Sao_Paulo",              // Brazil
	"BS": "America/Nassau",                 // Bahamas
	"BT": "Asia/Thimphu",                   // Bhutan
	"BV": "Europe/Oslo",                    // Bouvet Island
	"BW": "Africa/Gaborone",                // Botswana
	"BY": "Europe/Minsk",                   // Belarus
	"BZ": "America/Belize",                 // Belize
	"CA": "America/Toronto",                // Canada
	"CC": "Indian/Cocos",                   // Cocos (Keeling) Islands
	"CD": "Africa/Kinshasa",                // Congo (Dem. Rep.)
	"CF": "Africa/Bangui",                  // Central African Rep.
	"CG": "Africa/Brazzaville",             // Congo (Rep.)
	"CH": "Europe/Zurich",                  // Switzerland
	"CI": "Africa/Abidjan",                 // Côte d'Ivoire
	"CK": "Pacific/Rarotonga",              // Cook Islands
	"CL": "America/Santiago",               // Chile
	"CM": "Africa/Douala",                  // Cameroon
	"CN": "Asia/Shanghai",                  // China
	"CO": "America/Bogota",                 // Colombia
	"CR": "America/Costa_Rica",             // Costa Rica
	"CU": "America/Havana",                 // Cuba
	"CV": "Atlantic/Cape_Verde",            // Cape Verde
	"CW": "America/Curacao",                // Curaçao
	"CX": "Indian/Christmas",               // Christmas Island
	"CY": "Asia/Nicosia",                   // Cyprus
	"CZ": "Europe/Prague",                  // Czech Republic
	"DE": "Europe/Berlin",                  // Germany
	"DJ": "Africa/Djibouti",                // Djibouti
	"DK": "Europe/Copenhagen",              // Denmark
	"DM": "America/Dominica",               // Dominica
	"DO": "America/Santo_Domingo",          // Dominican Republic
	"DZ": "Africa/Algiers",                 // Algeria
	"EC": "America/Guayaquil",              // Ecuador
	"EE": "Europe/Tallinn",                 // Estonia
	"EG": "Africa/Cairo",                   // Egypt
	"EH": "Africa/El_Aaiun",                // Western Sahara
	"ER": "Africa/Asmara",                  // Eritrea
	"ES": "Europe/Madrid",                  // Spain
	"ET": "Africa/Addis_Ababa",             // Ethiopia
	"FI": "Europe/Helsinki",                // Finland
	"FJ": "Pacific/Fiji",                   // Fiji
	"FK": "Atlantic/Stanley",               // Falkland Islands
	"FM": "Pacific/Chuuk",                  // Micronesia
	"FO": "Atlantic/Faroe",                 // Faroe Islands
	"FR": "Europe/Paris",                   // France
	"GA": "Africa/Libreville",              // Gabon
	"GB": "Europe/London",                  // Britain (UK)
	"GD": "America/Grenada",                // Grenada
	"GE": "Asia/Tbilisi",                   // Georgia
	"GF": "America/Cayenne",                // French Guiana
	"GG": "Europe/Guernsey",                // Guernsey
	"GH": "Africa/Accra",                   // Ghana
	"GI": "Europe/Gibraltar",               // Gibraltar
	"GL": "America/Nuuk",                   // Greenland
	"GM": "Africa/Banjul",                  // Gambia
	"GN": "Africa/Conakry",                 // Guinea
	"GP": "America/Guadeloupe",             // Guadeloupe
	"GQ": "Africa/Malabo",                  // Equatorial Guinea
	"GR": "Europe/Athens",                  // Greece
	"GS": "Atlantic/South_Georgia",         // South Georgia & the South Sandwich Islands
	"GT": "America/Guatemala",              // Guatemala
	"GU": "Pacific/Guam",                   // Guam
	"GW": "Africa/Bissau",                  // Guinea-Bissau
	"GY": "America/Guyana",                 // Guyana
	"HK": "Asia/Hong_Kong",                 // Hong Kong
	"HM": "Indian/Kerguelen",               // Heard Island & McDonald Islands
	"HN": "America/Tegucigalpa",            // Honduras
	"HR": "Europe/Zagreb",                  // Croatia
	"HT": "America/Port-au-Prince",         // Haiti
	"HU": "Europe/Budapest",                // Hungary
	"ID": "Asia/Jakarta",                   // Indonesia
	"IE": "Europe/Dublin",                  // Ireland
	"IL": "Asia/Jerusalem",                 // Israel
	"IM": "Europe/Isle_of_Man",             // Isle of Man
	"IN": "Asia/Kolkata",                   // India
	"IO": "Indian/Chagos",                  // British Indian Ocean Territory
	"IQ": "Asia/Baghdad",                   // Iraq
	"IR": "Asia/Tehran",                    // Iran
	"IS": "Atlantic/Reykjavik",             // Iceland
	"IT": "Europe/Rome",                    // Italy
	"JE": "Europe/Jersey",                  // Jersey
	"JM": "America/Jamaica",                // Jamaica
	"JO": "Asia/Amman",                     // Jordan
	"JP": "Asia/Tokyo",                     // Japan
	"KE": "Africa/Nairobi",                 // Kenya
	"KG": "Asia/Bishkek",                   // Kyrgyzstan
	"KH": "Asia/Phnom_Penh",                // Cambodia
	"KI": "Pacific/Tarawa",                 // Kiribati
	"KM": "Indian/Comoro",                  // Comoros
	"KN": "America/St_Kitts",               // St Kitts & Nevis
	"KP": "Asia/Pyongyang",                 // Korea (North)
	"KR": "Asia/Seoul",                     // Korea (South)
	"KW": "Asia/Kuwait",                    // Kuwait
	"KY": "America/Cayman",                 // Cayman Islands
	"KZ": "Asia/Almaty",                    // Kazakhstan
	"LA": "Asia/Vientiane",                 // Laos
	"LB": "Asia/Beirut",                    // Lebanon
	"LC": "America/St_Lucia",               // St Lucia
	"LI": "Europe/Vaduz",                   // Liechtenstein
	"LK": "Asia/Colombo",                   // Sri Lanka
	"LR": "Africa/Monrovia",                // Liberia
	"LS": "Africa/Maseru",                  // Lesotho
	"LT": "Europe/Vilnius",                 // Lithuania
	"LU": "Europe/Luxembourg",              // Luxembourg
	"LV": "Europe/Riga",                    // Latvia
	"LY": "Africa/Tripoli",                 // Libya
	"MA": "Africa/Casablanca",              // Morocco
	"MC": "Europe/Monaco",                  // Monaco
	"MD": "Europe/Chisinau",                // Moldova
	"ME": "Europe/Podgorica",               // Montenegro
	"MF": "America/Marigot",                // St Martin (French)
	"MG": "Indian/Antananarivo",            // Madagascar
	"MH": "Pacific/Majuro",                 // Marshall Islands
	"MK": "Europe/Skopje",                  // North Macedonia
	"ML": "Africa/Bamako",                  // Mali
	"MM": "Asia/Yangon",                    // Myanmar (Burma)
	"MN": "Asia/Ulaanbaatar",               // Mongolia
	"MO": "Asia/Macau",                     // Macau
	"MP": "Pacific/Saipan",                 // Northern Mariana Islands
	"MQ": "America/Martinique",             // Martinique
	"MR": "Africa/Nouakchott",              // Mauritania
	"MS": "America/Montserrat",             // Montserrat
	"MT": "Europe/Malta",                   // Malta
	"MU": "Indian/Mauritius",               // Mauritius
	"MV": "Indian/Maldives",                // Maldives
	"MW": "Africa/Blantyre",                // Malawi
	"MX": "America/Mexico_City",            // Mexico
	"MY": "Asia/Kuala_Lumpur",              // Malaysia
	"MZ": "Africa/Maputo",                  // Mozambique
	"NA": "Africa/Windhoek",                // Namibia
	"NC": "Pacific/Noumea",                 // New Caledonia
	"NE": "Africa/Niamey",                  // Niger
	"NF": "Pacific/Norfolk",                // Norfolk Island
	"NG": "Africa/Lagos",                   // Nigeria
	"NI": "America/Managua",                // Nicaragua
	"NL": "Europe/Amsterdam",               // Netherlands
	"NO": "Europe/Oslo",                    // Norway
	"NP": "Asia/Kathmandu",                 // Nepal
	"NR": "Pacific/Nauru",                  // Nauru
	"NU": "Pacific/Niue",                   // Niue
	"NZ": "Pacific/Auckland",               // New Zealand
	"OM": "Asia/Muscat",                    // Oman
	"PA": "America/Panama",                 // Panama
	"PE": "America/Lima",                   // Peru
	"PF": "Pacific/Tahiti",                 // French Polynesia
	"PG": "Pacific/Port_Moresby",           // Papua New Guinea
	"PH": "Asia/Manila",                    // Philippines
	"PK": "Asia/Karachi",                   // Pakistan
	"PL": "Europe/Warsaw",                  // Poland
	"PM": "America/Miquelon",               // St Pierre & Miquelon
	"PN": "Pacific/Pitcairn",               // Pitcairn
	"PR": "America/Puerto_Rico",            // Puerto Rico
	"PS": "Asia/Hebron",                    // Palestine
	"PT": "Europe/Lisbon",                  // Portugal
	"PW": "Pacific/Palau",                  // Palau
	"PY": "America/Asuncion",               // Paraguay
	"QA": "Asia/Qatar",                     // Qatar
	"RE": "Indian/Reunion",                 // Réunion
	"RO": "Europe/Bucharest",               // Romania
	"RS": "Europe/Belgrade",                // Serbia
	"RU": "Europe/Moscow",                  // Russia
	"RW": "Africa/Kigali",                  // Rwanda
	"SA": "Asia/Riyadh",                    // Saudi Arabia
	"SB": "Pacific/Guadalcanal",            // Solomon Islands
	"SC": "Indian/Mahe",                    // Seychelles
	"SD": "Africa/Khartoum",                // Sudan
	"SE": "Europe/Stockholm",               // Sweden
	"SG": "Asia/Singapore",                 // Singapore
	"SH": "Atlantic/St_Helena",             // St Helena
	"SI": "Europe/Ljubljana",               // Slovenia
	"SJ": "Arctic/Longyearbyen",            // Svalbard & Jan Mayen
	"SK": "Europe/Bratislava",              // Slovakia
	"SL": "Africa/Freetown",                // Sierra Leone
	"SM": "Europe/San_Marino",              // San Marino
	"SN": "Africa/Dakar",                   // Senegal
	"SO": "Africa/Mogadishu",               // Somalia
	"SR": "America/Paramaribo",             // Suriname
	"SS": "Africa/Juba",                    // South Sudan
	"ST": "Africa/Sao_Tome",                // Sao Tome & Principe
	"SV": "America/El_Salvador",            // El Salvador
	"SX": "America/Lower_Princes",          // St Maarten (Dutch)
	"SY": "Asia/Damascus",                  // Syria
	"SZ": "Africa/Mbabane",                 // Eswatini (Swaziland)
	"TC": "America/Grand_Turk",             // Turks & Caicos Is
	"TD": "Africa/Ndjamena",                // Chad
	"TF": "Indian/Kerguelen",               // French S. Terr.
	"TG": "Africa/Lome",                    // Togo
	"TH": "Asia/Bangkok",                   // Thailand
	"TJ": "Asia/Dushanbe",                  // Tajikistan
	"TK": "Pacific/Fakaofo",                // Tokelau
	"TL": "Asia/Dili",                      // East Timor
	"TM": "Asia/Ashgabat",                  // Turkmenistan
	"TN": "Africa/Tunis",                   // Tunisia
	"TO": "Pacific/Tongatapu",              // Tonga
	"TR": "Europe/Istanbul",                // Turkey
	"TT": "America/Port_of_Spain",          // Trinidad & Tobago
	"TV": "Pacific/Funafuti",               // Tuvalu
	"TW": "Asia/Taipei",                    // Taiwan
	"TZ": "Africa/Dar_es_Salaam",           // Tanzania
	"UA": "Europe/Kyiv",                    // Ukraine
	"UG": "Africa/Kampala",                 // Uganda
	"UM": "Pacific/Wake",                   // US minor outlying islands
	"US": "America/New_York",               // United States
	"UY": "America/Montevideo",             // Uruguay
	"UZ": "Asia/Tashkent",                  // Uzbekistan
	"VA": "Europe/Vatican",                 // Vatican City
	"VC": "America/St_Vincent",             // St Vincent
	"VE": "America/Caracas",                // Venezuela
	"VG": "America/Tortola",                // Virgin Islands (UK)
	"VI": "America/St_Thomas",              // Virgin Islands (US)
	"VN": "Asia/Ho_Chi_Minh",               // Vietnam
	"VU": "Pacific/Efate",                  // Vanuatu
	"WF": "Pacific/Wallis",                 // Wallis & Futuna
	"WS": "Pacific/Apia",                   // Samoa (western)
	"YE": "Asia/Aden",                      // Yemen
	"YT": "Indian/Mayotte",                 // Mayotte
	"ZA": "Africa/Johannesburg",            // South Africa
	"ZM": "Africa/Lusaka",                  // Zambia
	"ZW": "Africa/Harare",                  // Zimbabwe

	// Codes Shopify uses that are not (or no longer) in ISO 3166-1.
	"AC": "Atlantic/St_Helena", // Ascension Island
	"AN": "America/Curacao",    // Netherlands Antilles (dissolved 2010)
	"TA": "Atlantic/St_Helena", // Tristan da Cunha
	"XK": "Europe/Belgrade",    // Kosovo
}

// provinceZones refines countryZones for countries that span several zones,
// keyed by country and then by the province code Shopify sends (its own
// code where it differs from ISO 3166-2, plus the ISO code). A province that
// itself spans zones maps to the zone most of its people live in. Provinces
// missing here fall back to the country's entry.
var provinceZones = map[string]map[string]string{
	"US": {
		"AL": "America/Chicago",
		"AK": "America/Anchorage",
		"AZ": "America/Phoenix",
		"AR": "America/Chicago",
		"CA": "America/Los_Angeles",
		"CO": "America/Denver",
		"CT": "America/New_York",
		"DE": "America/New_York",
		"DC": "America/New_York",
		"FL": "America/New_York", // the western panhandle is Central
		"GA": "America/New_York",
		"HI": "Pacific/Honolulu",
		"ID": "America/Boise", // the northern panhandle is Pacific
		"IL": "America/Chicago",
		"IN": "America/Indiana/Indianapolis",
		"IA": "America/Chicago",
		"KS": "America/Chicago",
		"KY": "America/New_York", // the western half is Central
		"LA": "America/Chicago",
		"ME": "America/New_York",
		"MD": "America/New_York",
		"MA": "America/New_York",
		"MI": "America/Detroit",
		"MN": "America/Chicago",
		"MS": "America/Chicago",
		"MO": "America/Chicago",
		"MT": "America/Denver",
		"NE": "America/Chicago",
		"NV": "America/Los_Angeles",
		"NH": "America/New_York",
		"NJ": "America/New_York",
		"NM": "America/Denver",
		"NY": "America/New_York",
		"NC": "America/New_York",
		"ND": "America/Chicago",
		"OH": "America/New_York",
		"OK": "America/Chicago",
		"OR": "America/Los_Angeles",
		"PA": "America/New_York",
		"RI": "America/New_York",
		"SC": "America/New_York",
		"SD": "America/Chicago",
		"TN": "America/Chicago", // Nashville and Memphis outnumber eastern Tennessee
		"TX": "America/Chicago",
		"UT": "America/Denver",
		"VT": "America/New_York",
		"VA": "America/New_York",
		"WA": "America/Los_Angeles",
		"WV": "America/New_York",
		"WI": "America/Chicago",
		"WY": "America/Denver",
		// Territories, which Shopify may send as US provinces.
		"AS": "Pacific/Pago_Pago",
		"GU": "Pacific/Guam",
		"MP": "Pacific/Saipan",
		"PR": "America/Puerto_Rico",
		"UM": "Pacific/Wake",
		"VI": "America/St_Thomas",
		// Military mail: AE and AP are mostly bases in Germany and Japan/Korea.
		"AA": "America/New_York",
		"AE": "Europe/Berlin",
		"AP": "Asia/Tokyo",
	},
	"CA": {
		"AB": "America/Edmonton",
		"BC": "America/Vancouver",
		"MB": "America/Winnipeg",
		"NB": "America/Moncton",
		"NL": "America/St_Johns",
		"NS": "America/Halifax",
		"NT": "America/Edmonton",
		"NU": "America/Iqaluit",
		"ON": "America/Toronto",
		"PE": "America/Halifax",
		"QC": "America/Toronto",
		"SK": "America/Regina",
		"YT": "America/Whitehorse",
	},
	"AU": {
		"ACT": "Australia/Sydney",
		"NSW": "Australia/Sydney",
		"NT":  "Australia/Darwin",
		"QLD": "Australia/Brisbane",
		"SA":  "Australia/Adelaide",
		"TAS": "Australia/Hobart",
		"VIC": "Australia/Melbourne",
		"WA":  "Australia/Perth",
	},
	"BR": {
		"AC": "America/Rio_Branco",
		"AL": "America/Maceio",
		"AM": "America/Manaus",
		"AP": "America/Belem",
		"BA": "America/Bahia",
		"CE": "America/Fortaleza",
		"DF": "America/Sao_Paulo",
		"ES": "America/Sao_Paulo",
		"GO": "America/Sao_Paulo",
		"MA": "America/Fortaleza",
		"MG": "America/Sao_Paulo",
		"MS": "America/Campo_Grande",
		"MT": "America/Cuiaba",
		"PA": "America/Belem",
		"PB": "America/Fortaleza",
		"PE": "America/Recife",
		"PI": "America/Fortaleza",
		"PR": "America/Sao_Paulo",
		"RJ": "America/Sao_Paulo",
		"RN": "America/Fortaleza",
		"RO": "America/Porto_Velho",
		"RR": "America/Boa_Vista",
		"RS": "America/Sao_Paulo",
		"SC": "America/Sao_Paulo",
		"SE": "America/Maceio",
		"SP": "America/Sao_Paulo",
		"TO": "America/Araguaina",
	},
	"MX": {
		"AGS":   "America/Mexico_City",
		"BC":    "America/Tijuana",
		"BCN":   "America/Tijuana",
		"BCS":   "America/Mazatlan",
		"CAM":   "America/Merida",
		"CAMP":  "America/Merida",
		"CDMX":  "America/Mexico_City",
		"CHH":   "America/Chihuahua",
		"CHIH":  "America/Chihuahua", // Ciudad Juárez alone is on Mountain time
		"CHIS":  "America/Mexico_City",
		"CMX":   "America/Mexico_City",
		"COA":   "America/Monterrey",
		"COAH":  "America/Monterrey",
		"COL":   "America/Mexico_City",
		"DF":    "America/Mexico_City",
		"DGO":   "America/Monterrey",
		"DUR":   "America/Monterrey",
		"GRO":   "America/Mexico_City",
		"GTO":   "America/Mexico_City",
		"HGO":   "America/Mexico_City",
		"JAL":   "America/Mexico_City",
		"MEX":   "America/Mexico_City",
		"MICH":  "America/Mexico_City",
		"MOR":   "America/Mexico_City",
		"NAY":   "America/Mazatlan",
		"NL":    "America/Monterrey",
		"NLE":   "America/Monterrey",
		"OAX":   "America/Mexico_City",
		"PUE":   "America/Mexico_City",
		"Q ROO": "America/Cancun",
		"QROO":  "America/Cancun",
		"QRO":   "America/Mexico_City",
		"ROO":   "America/Cancun",
		"SIN":   "America/Mazatlan",
		"SLP":   "America/Mexico_City",
		"SON":   "America/Hermosillo",
		"TAB":   "America/Mexico_City",
		"TAM":   "America/Monterrey",
		"TAMPS": "America/Monterrey",
		"TLAX":  "America/Mexico_City",
		"VER":   "America/Mexico_City",
		"YUC":   "America/Merida",
		"ZAC":   "America/Mexico_City",
	},
	"RU": { // ISO 3166-2 codes; subjects not listed keep Moscow time.
		"KGD": "Europe/Kaliningrad",
		"KIR": "Europe/Kirov",
		"VGG": "Europe/Volgograd",
		"AST": "Europe/Astrakhan",
		"SAR": "Europe/Saratov",
		"ULY": "Europe/Ulyanovsk",
		"SAM": "Europe/Samara",
		"UD":  "Europe/Samara",
		"BA":  "Asia/Yekaterinburg",
		"CHE": "Asia/Yekaterinburg",
		"KGN": "Asia/Yekaterinburg",
		"KHM": "Asia/Yekaterinburg",
		"ORE": "Asia/Yekaterinburg",
		"PER": "Asia/Yekaterinburg",
		"SVE": "Asia/Yekaterinburg",
		"TYU": "Asia/Yekaterinburg",
		"YAN": "Asia/Yekaterinburg",
		"OMS": "Asia/Omsk",
		"NVS": "Asia/Novosibirsk",
		"ALT": "Asia/Barnaul",
		"AL":  "Asia/Barnaul",
		"TOM": "Asia/Tomsk",
		"KEM": "Asia/Novokuznetsk",
		"KYA": "Asia/Krasnoyarsk",
		"KK":  "Asia/Krasnoyarsk",
		"TY":  "Asia/Krasnoyarsk",
		"IRK": "Asia/Irkutsk",
		"BU":  "Asia/Irkutsk",
		"ZAB": "Asia/Chita",
		"AMU": "Asia/Yakutsk",
		"SA":  "Asia/Yakutsk",
		"PRI": "Asia/Vladivostok",
		"KHA": "Asia/Vladivostok",
		"YEV": "Asia/Vladivostok",
		"MAG": "Asia/Magadan",
		"SAK": "Asia/Sakhalin",
		"KAM": "Asia/Kamchatka",
		"CHU": "Asia/Anadyr",
	},
	"ID": { // ISO 3166-2 codes; provinces not listed are on Jakarta time.
		"KB": "Asia/Pontianak",
		"KT": "Asia/Pontianak",
		"BA": "Asia/Makassar",
		"GO": "Asia/Makassar",
		"KI": "Asia/Makassar",
		"KS": "Asia/Makassar",
		"KU": "Asia/Makassar",
		"NB": "Asia/Makassar",
		"NT": "Asia/Makassar",
		"SA": "Asia/Makassar",
		"SG": "Asia/Makassar",
		"SN": "Asia/Makassar",
		"SR": "Asia/Makassar",
		"ST": "Asia/Makassar",
		"MA": "Asia/Jayapura",
		"MU": "Asia/Jayapura",
		"PA": "Asia/Jayapura",
		"PB": "Asia/Jayapura",
		"PD": "Asia/Jayapura",
		"PE": "Asia/Jayapura",
		"PS": "Asia/Jayapura",
		"PT": "Asia/Jayapura",
	},
	"ES": {
		"CE": "Africa/Ceuta",
		"CN": "Atlantic/Canary",
		"GC": "Atlantic/Canary",
		"ML": "Africa/Ceuta",
		"TF": "Atlantic/Canary",
	},
	"PT": { // Shopify sends "PT-20"; the country prefix is stripped before lookup.
		"20": "Atlantic/Azores",
		"30": "Atlantic/Madeira",
	},
	"CL": {
		"AI": "America/Coyhaique",
		"MA": "America/Punta_Arenas",
	},
	"EC": {
		"W": "Pacific/Galapagos",
	},
	"MY": {
		"12":  "Asia/Kuching",
		"13":  "Asia/Kuching",
		"15":  "Asia/Kuching",
		"LBN": "Asia/Kuching",
		"SBH": "Asia/Kuching",
		"SWK": "Asia/Kuching",
	},
	"NZ": {
		"CIT": "Pacific/Chatham",
	},
	"MN": {
		"043": "Asia/Hovd",
		"046": "Asia/Hovd",
		"071": "Asia/Hovd",
	},
	"PS": {
		"DEB": "Asia/Gaza",
		"GZA": "Asia/Gaza",
		"KYS": "Asia/Gaza",
		"NGZ": "Asia/Gaza",
		"RFH": "Asia/Gaza",
	},
	"UA": {
		"43": "Europe/Simferopol",
		"40": "Europe/Simferopol", // Sevastopol
	},
}
